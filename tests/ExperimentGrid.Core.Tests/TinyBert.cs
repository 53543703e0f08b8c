using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Tokenization;

namespace ExperimentGrid.Core.Tests;

/// <summary>A randomly initialised two-layer BERT small enough to build in milliseconds.</summary>
internal static class TinyBert
{
    public static readonly string[] Vocabulary =
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "film", "great", "awful", "the", "a", "##s", "plot", "."];

    public static BertConfig Config(int layers = 2) => new()
    {
        VocabSize = Vocabulary.Length,
        HiddenSize = 32,
        NumHiddenLayers = layers,
        NumAttentionHeads = 4,
        IntermediateSize = 64,
        MaxPositionEmbeddings = 64,
    };

    public static TextTokenizer Tokenizer() => TextTokenizer.FromVocabulary(Vocabulary, lowerCase: true, modelMaxLength: 64);

    /// <summary>
    /// Saves a seeded tiny masked-LM without dropout as a model directory, so a trainable on it computes the same
    /// gradients however often it runs a batch.
    /// </summary>
    public static string SaveWithoutDropout(string path, int layers = 2)
    {
        var config = Config(layers);
        config.HiddenDropoutProb = 0;
        config.AttentionProbsDropoutProb = 0;
        TorchSharp.torch.random.manual_seed(7);
        using var model = new BertForMaskedLM(config);
        ModelDirectory.Save(path, model, config, Tokenizer());
        return path;
    }
}
