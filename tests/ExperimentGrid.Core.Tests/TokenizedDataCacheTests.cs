using ExperimentGrid.Core.Caching;
using Microsoft.Extensions.Logging.Abstractions;

namespace ExperimentGrid.Core.Tests;

/// <summary>A split is tokenized once per tokenizer, max_length and file content; every later reader gets the same ids.</summary>
public sealed class TokenizedDataCacheTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tokenized-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string DataFile(params string[] texts)
    {
        var path = Path.Combine(_directory, "train.jsonl");
        File.WriteAllLines(path, texts.Select(t => $$"""{"text": "{{t}}", "label": 0}"""));
        return path;
    }

    /// <summary>Encodes through a fresh cache object on the shared root, as another silo would, counting the rows it had to tokenize.</summary>
    private (List<int[]> Ids, int Tokenized) Encode(string path, int maxLength, string[] rows)
    {
        var tokenizer = TinyBert.Tokenizer();
        var tokenized = 0;
        var encoded = TokenizedData.Encode(new WorkCache(Path.Combine(_directory, "cache"), 1 << 30), tokenizer, maxLength, path, "text column text", rows, row =>
        {
            tokenized++;
            return (tokenizer.Encode(row, maxLength), null);
        }, NullLogger.Instance);
        return ([.. encoded.Select(e => e.Ids)], tokenized);
    }

    [Fact]
    public void A_second_reader_gets_the_first_readers_ids_without_tokenizing()
    {
        string[] rows = ["the good movie .", "awful plot", "a great film s"];
        var path = DataFile(rows);
        var first = Encode(path, 16, rows);
        var second = Encode(path, 16, rows);
        Assert.Equal(3, first.Tokenized);
        Assert.Equal(0, second.Tokenized);
        Assert.Equal(first.Ids, second.Ids);
        Assert.Equal(rows.Select(r => TinyBert.Tokenizer().Encode(r, 16)), second.Ids);
    }

    [Fact]
    public void Another_max_length_or_changed_file_content_is_tokenized_anew()
    {
        string[] rows = ["the good movie .", "awful plot"];
        var path = DataFile(rows);
        Encode(path, 16, rows);
        var shorter = Encode(path, 4, rows);
        Assert.Equal(2, shorter.Tokenized);
        Assert.All(shorter.Ids, ids => Assert.True(ids.Length <= 4));

        string[] edited = ["the bad movie .", "awful plot"];
        DataFile(edited);
        var afterEdit = Encode(path, 16, edited);
        Assert.Equal(2, afterEdit.Tokenized);
        Assert.Equal(TinyBert.Tokenizer().Encode("the bad movie .", 16), afterEdit.Ids[0]);
    }
}
