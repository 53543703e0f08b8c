using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Tokenization;

namespace ExperimentGrid.Core.Tests;

public sealed class TokenClassificationDataTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tokens-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    // A cased vocabulary in which "lamb" splits into la ##mb, as bert-base-cased splits it in the seed notebook.
    private static readonly TextTokenizer Cased = TextTokenizer.FromVocabulary(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "EU", "rejects", "German", "call", "to", "boycott", "British", "la", "##mb", ".", "Brit", "##ish"],
        lowerCase: false);

    // Hugging Face conll2003's ner_tags ids, the ones the seed prints.
    private static readonly Dictionary<string, int> ConllIds = new()
    {
        ["O"] = 0, ["B-PER"] = 1, ["I-PER"] = 2, ["B-ORG"] = 3, ["I-ORG"] = 4, ["B-LOC"] = 5, ["I-LOC"] = 6, ["B-MISC"] = 7, ["I-MISC"] = 8,
    };

    [Fact]
    public void Alignment_reproduces_the_seed_notebooks_labels_for_its_first_sentence()
    {
        var sentence = new TaggedSentence(
            ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
            ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"], 3);
        var encoded = TokenClassificationData.Align(sentence, Cased, ConllIds, 512, "train.txt");
        Assert.Equal(["[CLS]", "EU", "rejects", "German", "call", "to", "boycott", "British", "la", "##mb", ".", "[SEP]"], encoded.Ids.Select(Cased.TokenOf));
        // The seed notebook prints exactly this for tokenized['train'][0]['labels'].
        Assert.Equal([-100L, 3, 0, 7, 0, 0, 0, 7, 0, 0, 0, -100], encoded.Labels);
    }

    [Fact]
    public void Later_pieces_of_a_b_word_carry_its_i_label_and_i_and_o_stay_as_they_are()
    {
        var sentence = new TaggedSentence(["British", "British", "lamb"], ["B-MISC", "I-MISC", "O"], 1);
        var vocabulary = TextTokenizer.FromVocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Brit", "##ish", "la", "##mb"], lowerCase: false);
        var encoded = TokenClassificationData.Align(sentence, vocabulary, ConllIds, 512, "x");
        Assert.Equal([-100L, 7, 8, 8, 8, 0, 0, -100], encoded.Labels);
    }

    [Fact]
    public void Truncation_keeps_cls_and_sep_and_drops_trailing_pieces()
    {
        var sentence = new TaggedSentence(["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"], 1);
        var encoded = TokenClassificationData.Align(sentence, Cased, ConllIds, 4, "x");
        Assert.Equal(["[CLS]", "EU", "rejects", "[SEP]"], encoded.Ids.Select(Cased.TokenOf));
        Assert.Equal([-100L, 3, 0, -100], encoded.Labels);
    }

    [Fact]
    public void Reads_conll2003_and_wnut17_with_their_documented_sizes()
    {
        var conll = TokenClassificationData.Read(DatasetLocator.ResolveSplit("conll2003", "train", extensions: TokenClassificationData.Extensions));
        Assert.Equal(14041, conll.Count);
        Assert.Equal(203621, conll.Sum(s => s.Words.Count));
        Assert.Equal(["EU", "rejects", "German"], conll[0].Words.Take(3));
        Assert.Equal(["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"], TokenClassificationData.LabelSet(conll));

        var wnut = TokenClassificationData.Read(DatasetLocator.ResolveSplit("wnut17", "wnut17train", extensions: TokenClassificationData.Extensions));
        Assert.Equal(3394, wnut.Count);
        Assert.Equal(62730, wnut.Sum(s => s.Words.Count));
        Assert.Contains("B-creative-work", TokenClassificationData.LabelSet(wnut));
    }

    [Theory]
    [InlineData("EU B-ORG\nrejects X-ORG\n", ":2: tag 'X-ORG' is not IOB2")]
    [InlineData("EU B-ORG\nlonely\n", ":2: expected a token and a tag")]
    [InlineData("\n\n", ": no sentences")]
    public void Bad_token_files_name_the_file_and_line(string content, string expected)
    {
        var path = Path.Combine(_directory, "bad.txt");
        File.WriteAllText(path, content);
        var error = Assert.Throws<DatasetException>(() => TokenClassificationData.Read(path));
        Assert.Contains(path + expected, error.Message);
    }

    [Fact]
    public void A_tag_unknown_to_the_model_names_its_line()
    {
        var sentence = new TaggedSentence(["EU", "rejects"], ["B-ORG", "B-EVENT"], 10);
        var error = Assert.Throws<DatasetException>(() => TokenClassificationData.Align(sentence, Cased, ConllIds, 64, "test.txt"));
        Assert.Contains("test.txt:11: tag 'B-EVENT'", error.Message);
    }
}
