using System.Text.Json.Nodes;
using ExperimentGrid.Core.Tokenization;

namespace ExperimentGrid.Core.Tests;

[Collection(ModelCollection.Name)]
public sealed class TokenizerTests(ModelFixture models)
{
    private TextTokenizer MiniLm => models.Open("minilm").Tokenizer;

    [Fact]
    public void Encodes_with_bert_uncased_ids_and_special_tokens()
    {
        // bert-base-uncased ids, shared by all-MiniLM-L6-v2: [CLS]=101, hello=7592, world=2088, [SEP]=102.
        Assert.Equal([101, 7592, 2088, 102], MiniLm.Encode("hello world", 512));
        Assert.Equal((101, 102, 0, 103), (MiniLm.ClsId, MiniLm.SepId, MiniLm.PadId, MiniLm.MaskId));
    }

    [Fact]
    public void Lower_cases_and_strips_accents_as_the_uncased_model_expects()
    {
        Assert.Equal(MiniLm.Encode("hello world", 512), MiniLm.Encode("HeLLo WORLD", 512));
        Assert.Equal(MiniLm.Encode("cafe", 512), MiniLm.Encode("Café", 512));
    }

    [Fact]
    public void Splits_unknown_words_into_word_pieces()
    {
        var ids = MiniLm.Encode("schwarzenegger", 512);
        var pieces = ids[1..^1].Select(MiniLm.TokenOf).ToArray();
        Assert.True(pieces.Length > 1, $"expected several pieces, got {string.Join(" ", pieces)}");
        Assert.All(pieces.Skip(1), p => Assert.StartsWith("##", p));
        Assert.Equal("schwarzenegger", string.Concat(pieces.Select(p => p.TrimStart('#'))));
    }

    [Fact]
    public void Truncation_keeps_cls_and_sep_and_drops_the_tail()
    {
        var full = MiniLm.Encode("one two three four five six seven eight", 512);
        var truncated = MiniLm.Encode("one two three four five six seven eight", 5);
        Assert.Equal(5, truncated.Length);
        Assert.Equal(full[..4], truncated[..4]);
        Assert.Equal(MiniLm.SepId, truncated[^1]);
    }

    [Fact]
    public void Control_characters_from_the_latin1_dataset_do_not_become_tokens()
    {
        // rotten_tomatoes keeps C1 controls such as U+0085 and U+0097; BERT's basic tokenizer drops control characters.
        var ids = MiniLm.Encode("a\u0097great movie", 512);
        Assert.DoesNotContain(MiniLm.UnknownId, ids);
        Assert.Equal(MiniLm.Encode("agreat movie", 512), ids);
    }

    [Fact]
    public void A_cased_vocabulary_keeps_case()
    {
        var cased = TextTokenizer.FromVocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Hello", "hello"], lowerCase: false);
        Assert.Equal([2, 5, 3], cased.Encode("Hello", 16));
        Assert.Equal([2, 6, 3], cased.Encode("hello", 16));
    }

    [Fact]
    public void Saved_tokenizer_files_reload_to_the_same_encoding()
    {
        var directory = Directory.CreateTempSubdirectory("tok-").FullName;
        try
        {
            MiniLm.SaveTo(directory);
            var reloaded = TextTokenizer.FromDirectory(directory);
            Assert.True(reloaded.LowerCase);
            Assert.Equal(MiniLm.Encode("The Rock is destined to be the 21st Century's new Conan", 64), reloaded.Encode("The Rock is destined to be the 21st Century's new Conan", 64));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void A_directory_with_only_tokenizer_json_loads_the_same_wordpiece_vocabulary()
    {
        var source = models.Open("minilm").Path;
        var directory = Directory.CreateTempSubdirectory("tokjson-").FullName;
        try
        {
            // tokenizer.json as the tokenizers library writes it for BERT: a WordPiece model.vocab and a lowercasing normalizer.
            var vocab = new JsonObject();
            var lines = File.ReadAllLines(Path.Combine(source, "vocab.txt"));
            for (var id = 0; id < lines.Length; id++) vocab[lines[id]] = id;
            var json = new JsonObject
            {
                ["normalizer"] = new JsonObject { ["type"] = "BertNormalizer", ["lowercase"] = true },
                ["model"] = new JsonObject { ["type"] = "WordPiece", ["unk_token"] = "[UNK]", ["vocab"] = vocab },
            };
            File.WriteAllText(Path.Combine(directory, "tokenizer.json"), json.ToJsonString());
            var fromJson = TextTokenizer.FromDirectory(directory);
            const string text = "The Rock is destined to be the 21st Century's new Conan";
            Assert.Equal(MiniLm.Encode(text, 64), fromJson.Encode(text, 64));

            json["model"]!["type"] = "BPE";
            File.WriteAllText(Path.Combine(directory, "tokenizer.json"), json.ToJsonString());
            Assert.Contains("only WordPiece", Assert.Throws<InvalidDataException>(() => TextTokenizer.FromDirectory(directory)).Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
