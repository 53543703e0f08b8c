using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Tokenization;

namespace ExperimentGrid.Core.Tests;

/// <summary>A randomly initialised two-layer BERT small enough to build in milliseconds.</summary>
internal static class TinyBert
{
    public static readonly string[] Vocabulary =
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "film", "great", "awful", "the", "a", "##s", "plot", "."];

    public static BertConfig Config() => new()
    {
        VocabSize = Vocabulary.Length,
        HiddenSize = 32,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        IntermediateSize = 64,
        MaxPositionEmbeddings = 64,
    };

    public static TextTokenizer Tokenizer() => TextTokenizer.FromVocabulary(Vocabulary, lowerCase: true, modelMaxLength: 64);
}
