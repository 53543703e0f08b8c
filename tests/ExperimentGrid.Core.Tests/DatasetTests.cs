using ExperimentGrid.Core.Data;
using Parquet.Serialization;

namespace ExperimentGrid.Core.Tests;

public sealed class DatasetTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("data-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Reads_the_shared_rotten_tomatoes_splits_with_their_documented_sizes()
    {
        var train = TextClassificationData.Read(DatasetLocator.ResolveSplit("rotten_tomatoes", "train"));
        var test = TextClassificationData.Read(DatasetLocator.ResolveSplit("rotten_tomatoes", "test"));
        Assert.Equal(8530, train.Count);
        Assert.Equal(4265, train.Count(e => e.Label == 1));
        Assert.Equal(1066, test.Count);
    }

    [Fact]
    public void Jsonl_with_custom_columns_and_blank_lines()
    {
        var path = Write("custom.jsonl", "{\"sentence\": \"good\", \"y\": 1}\n\n{\"sentence\": \"bad\", \"y\": 0}\n");
        var examples = TextClassificationData.Read(path, "sentence", "y");
        Assert.Equal([new TextExample("good", 1, 1), new TextExample("bad", 0, 3)], examples);
    }

    [Theory]
    [InlineData("{\"text\": \"fine\", \"label\": 1}\n{\"text\": \"x\"}\n", ":2: no field 'label'")]
    [InlineData("{\"text\": \"fine\", \"label\": 1}\n{\"text\": \"x\", \"label\": \"pos\"}\n", ":2: label '\"pos\"' in field 'label' is not an integer class id")]
    [InlineData("{\"text\": \"fine\", \"label\": 1.5}\n", ":1: label '1.5'")]
    [InlineData("{\"text\": \"   \", \"label\": 1}\n", ":1: empty text in 'text'")]
    [InlineData("{\"text\": \"fine\", \"label\": -1}\n", ":1: label -1 is negative")]
    [InlineData("{\"text\": \"fine\", \"label\": 1}\n{not json\n", ":2: invalid JSON")]
    [InlineData("{\"text\": 5, \"label\": 1}\n", ":1: field 'text' is Number, not a string")]
    public void Bad_jsonl_records_name_the_file_and_line(string content, string expected)
    {
        var path = Write("bad.jsonl", content);
        var error = Assert.Throws<DatasetException>(() => TextClassificationData.Read(path));
        Assert.Contains(path + expected, error.Message);
    }

    [Fact]
    public void Csv_with_quoted_commas_and_errors_naming_the_line()
    {
        var path = Write("data.csv", "text,label\n\"great, really\",1\nawful,0\n");
        Assert.Equal(["great, really", "awful"], TextClassificationData.Read(path).Select(e => e.Text));

        var bad = Write("bad.csv", "text,label\nok,1\nhmm,maybe\n");
        var error = Assert.Throws<DatasetException>(() => TextClassificationData.Read(bad));
        Assert.Contains($"{bad}:3: label 'maybe'", error.Message);

        var missing = Write("missing.csv", "sentence,label\nok,1\n");
        Assert.Contains("no column 'text' (columns: sentence, label)", Assert.Throws<DatasetException>(() => TextClassificationData.Read(missing)).Message);
    }

    private sealed class ParquetRow
    {
        public string Text { get; set; } = "";
        public long Label { get; set; }
    }

    [Fact]
    public async Task Parquet_written_by_parquet_net_reads_back()
    {
        var path = Path.Combine(_directory, "data.parquet");
        await using (var stream = File.Create(path))
            await ParquetSerializer.SerializeAsync(new[] { new ParquetRow { Text = "up", Label = 1 }, new ParquetRow { Text = "down", Label = 0 } }, stream);
        var examples = TextClassificationData.Read(path, "Text", "Label");
        Assert.Equal([("up", 1), ("down", 0)], examples.Select(e => (e.Text, e.Label)));
    }

    [Fact]
    public void Unknown_datasets_and_splits_say_what_exists()
    {
        var error = Assert.Throws<DirectoryNotFoundException>(() => DatasetLocator.ResolveSplit("no_such_set", "train"));
        Assert.Contains("rotten_tomatoes", error.Message);
        var split = Assert.Throws<FileNotFoundException>(() => DatasetLocator.ResolveSplit("rotten_tomatoes", "holdout"));
        Assert.Contains("no split 'holdout'", split.Message);
        Assert.Contains("validation.jsonl", split.Message);
    }

    [Fact]
    public void Validation_valid_and_dev_name_the_same_split()
    {
        Assert.EndsWith("validation.jsonl", DatasetLocator.ResolveSplit("rotten_tomatoes", "dev"));
        Assert.EndsWith("valid.txt", DatasetLocator.ResolveSplit("conll2003", "validation", extensions: [".txt"]));
        Assert.EndsWith("emerging.test.annotated", DatasetLocator.ResolveSplit("wnut17", "emerging.test.annotated"));
    }

    [Fact]
    public void A_file_path_is_its_own_split_and_a_directory_path_holds_split_files()
    {
        var file = Write("train.jsonl", "{\"text\": \"a\", \"label\": 0}\n");
        Assert.Equal(file, DatasetLocator.ResolveSplit(file, "anything"));
        Assert.Equal(file, DatasetLocator.ResolveSplit(_directory, "train"));
    }

    [Fact]
    public void A_slice_is_a_seeded_random_subset_not_the_first_rows()
    {
        var train = TextClassificationData.Read(DatasetLocator.ResolveSplit("rotten_tomatoes", "train"));
        var slice = Subset.Random(train, 200, seed: 1);
        Assert.Equal(200, slice.Count);
        Assert.Equal(slice, Subset.Random(train, 200, seed: 1));
        Assert.NotEqual(slice, Subset.Random(train, 200, seed: 2));
        // The file stores every positive first: a prefix would be all positive, a random slice is mixed.
        Assert.InRange(slice.Count(e => e.Label == 1), 70, 130);
    }
}
