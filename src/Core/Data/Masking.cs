using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json.Serialization;
using ExperimentGrid.Core.Tokenization;

namespace ExperimentGrid.Core.Data;

/// <summary>
/// How masked-LM targets are chosen: single word pieces (transformers' DataCollatorForLanguageModeling), or whole
/// words, a piece and the ## pieces after it (DataCollatorForWholeWordMask), which cannot be guessed from the rest
/// of their own word.
/// </summary>
public enum MaskingStrategy
{
    [JsonStringEnumMemberName("token")]
    Token,

    [JsonStringEnumMemberName("whole-word")]
    WholeWord,
}

/// <summary>
/// What masking needs to know of a tokenizer. <paramref name="SpecialIds"/> are never masked; as transformers'
/// get_special_tokens_mask, that is every special token ([UNK] and [MASK] too), not only [CLS], [SEP] and [PAD].
/// </summary>
public sealed record MaskingVocabulary(int MaskId, int Size, IReadOnlySet<int> SpecialIds, IReadOnlySet<int> ContinuationIds)
{
    public static MaskingVocabulary Of(TextTokenizer tokenizer) => new(
        tokenizer.MaskId,
        tokenizer.VocabularySize,
        new HashSet<int> { tokenizer.ClsId, tokenizer.SepId, tokenizer.PadId, tokenizer.MaskId, tokenizer.UnknownId },
        Enumerable.Range(0, tokenizer.VocabularySize).Where(id => tokenizer.TokenOf(id).StartsWith("##", StringComparison.Ordinal)).ToHashSet());
}

public static class Masking
{
    public const double DefaultProbability = 0.15;

    /// <summary>
    /// Chooses positions of <paramref name="ids"/> with <paramref name="strategy"/>, then treats each chosen piece as
    /// BERT's pretraining did: 80% become [MASK], 10% a token drawn uniformly from the whole vocabulary, 10% stay.
    /// The model must predict the original at every chosen position, so it cannot learn that only [MASK] matters.
    /// </summary>
    /// <returns>The model's input ids, and per position the original id where the loss applies, -100 elsewhere.</returns>
    public static EncodedTokens Mask(int[] ids, MaskingVocabulary vocabulary, MaskingStrategy strategy, double probability, Random random)
    {
        if (probability is < 0 or > 1 || double.IsNaN(probability))
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "masking probability must lie in [0, 1]");
        var chosen = strategy switch
        {
            MaskingStrategy.Token => ChooseTokens(ids, vocabulary, probability, random),
            MaskingStrategy.WholeWord => ChooseWholeWords(ids, vocabulary, probability, random),
            _ => throw new ArgumentOutOfRangeException(nameof(strategy), strategy, "unknown masking strategy"),
        };
        var inputs = (int[])ids.Clone();
        var labels = new long[ids.Length];
        Array.Fill(labels, Batching.IgnoredLabel);
        for (var i = 0; i < ids.Length; i++)
        {
            if (!chosen[i]) continue;
            labels[i] = ids[i];
            var draw = random.NextDouble();
            if (draw < 0.8) inputs[i] = vocabulary.MaskId;
            else if (draw < 0.9) inputs[i] = random.Next(vocabulary.Size);
        }
        return new EncodedTokens(inputs, labels);
    }

    private static bool[] ChooseTokens(int[] ids, MaskingVocabulary vocabulary, double probability, Random random)
    {
        var chosen = new bool[ids.Length];
        for (var i = 0; i < ids.Length; i++)
            chosen[i] = !vocabulary.SpecialIds.Contains(ids[i]) && random.NextDouble() < probability;
        return chosen;
    }

    /// <summary>
    /// Words in random order until max(1, round(pieces × p)) pieces are covered, skipping any word that would
    /// overshoot, as DataCollatorForWholeWordMask does; pieces counts non-special tokens only, so the share of
    /// masked pieces is p whatever the sequence length. Rounding is to even, as Python's round.
    /// </summary>
    private static bool[] ChooseWholeWords(int[] ids, MaskingVocabulary vocabulary, double probability, Random random)
    {
        var chosen = new bool[ids.Length];
        var words = new List<List<int>>();
        var pieces = 0;
        var inWord = false;
        for (var i = 0; i < ids.Length; i++)
        {
            if (vocabulary.SpecialIds.Contains(ids[i]))
            {
                inWord = false;
                continue;
            }
            pieces++;
            // A ## piece continues the word before it; after a special token there is no such word, so it starts one.
            if (inWord && vocabulary.ContinuationIds.Contains(ids[i])) words[^1].Add(i);
            else words.Add([i]);
            inWord = true;
        }
        if (pieces == 0) return chosen;

        random.Shuffle(CollectionsMarshal.AsSpan(words));
        var budget = Math.Max(1, (int)Math.Round(pieces * probability, MidpointRounding.ToEven));
        var covered = 0;
        foreach (var word in words)
        {
            if (covered >= budget) break;
            if (covered + word.Count > budget) continue;
            foreach (var position in word) chosen[position] = true;
            covered += word.Count;
        }
        return chosen;
    }
}

/// <summary>
/// A dataset masked afresh every epoch, as transformers' collators mask each batch as it is drawn, but reproducibly:
/// the mask of sequence i in epoch e depends only on (seed, e, i), not on batch order or on what was masked before,
/// so a resumed run and a lazily masked batch see the same masks. For evaluation, keep one seed and one epoch: every
/// evaluation then scores the same masked positions and losses compare across checkpoints.
/// </summary>
public sealed class MaskedSequences(IReadOnlyList<int[]> sequences, MaskingVocabulary vocabulary, MaskingStrategy strategy, double probability, int seed)
{
    public int Count => sequences.Count;

    public EncodedTokens Example(int index, int epoch) =>
        Masking.Mask(sequences[index], vocabulary, strategy, probability, new Random(SeedOf(seed, epoch, index)));

    public EncodedTokens[] Epoch(int epoch) => [.. Enumerable.Range(0, sequences.Count).Select(i => Example(i, epoch))];

    /// <summary>
    /// SplitMix64 over the three numbers: it repeats across runs (HashCode.Combine is salted per process), and
    /// neighbouring (seed, epoch, index) triples get unrelated streams.
    /// </summary>
    private static int SeedOf(int seed, int epoch, int index)
    {
        var mixed = Mix((uint)seed);
        mixed = Mix(mixed ^ (uint)epoch);
        mixed = Mix(mixed ^ (uint)index);
        return (int)(mixed >> 33);
    }

    private static ulong Mix(ulong value)
    {
        var z = value + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
