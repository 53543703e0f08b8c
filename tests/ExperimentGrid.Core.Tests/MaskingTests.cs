using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Tokenization;

namespace ExperimentGrid.Core.Tests;

[Collection(ModelCollection.Name)]
public sealed class MaskingTests(ModelFixture models)
{
    private const int Specials = 5;
    private const int Starts = 200;
    private const int Continuations = 100;

    /// <summary>[PAD] [UNK] [CLS] [SEP] [MASK], 200 word starts, 100 ## pieces.</summary>
    private static readonly TextTokenizer Tokenizer = TextTokenizer.FromVocabulary(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
            .. Enumerable.Range(0, Starts).Select(i => $"word{i}"),
            .. Enumerable.Range(0, Continuations).Select(i => $"##piece{i}")],
        lowerCase: true);

    private static readonly MaskingVocabulary Vocabulary = MaskingVocabulary.Of(Tokenizer);

    /// <summary>
    /// Sequences of words of one to three pieces, some padded, some with [UNK]: about 6,000 non-special pieces, and
    /// for each sequence the position spans of its words.
    /// </summary>
    private static (List<int[]> Sequences, List<List<(int Start, int Length)>> Words) Corpus()
    {
        var random = new Random(11);
        var sequences = new List<int[]>();
        var words = new List<List<(int, int)>>();
        for (var s = 0; s < 300; s++)
        {
            var ids = new List<int> { Tokenizer.ClsId };
            var spans = new List<(int, int)>();
            for (var w = random.Next(5, 16); w > 0; w--)
            {
                if (random.Next(20) == 0)
                {
                    ids.Add(Tokenizer.UnknownId);
                    continue;
                }
                var start = ids.Count;
                ids.Add(Specials + random.Next(Starts));
                for (var c = random.Next(3); c > 0; c--) ids.Add(Specials + Starts + random.Next(Continuations));
                spans.Add((start, ids.Count - start));
            }
            ids.Add(Tokenizer.SepId);
            if (s % 4 == 0) ids.AddRange(Enumerable.Repeat(Tokenizer.PadId, 3));
            sequences.Add([.. ids]);
            words.Add(spans);
        }
        return (sequences, words);
    }

    private static bool IsSpecial(int id) => id < Specials;

    [Fact]
    public void The_vocabulary_knows_specials_and_continuation_pieces()
    {
        Assert.Equal(Specials + Starts + Continuations, Vocabulary.Size);
        Assert.Equal(Tokenizer.MaskId, Vocabulary.MaskId);
        Assert.Equal([0, 1, 2, 3, 4], Vocabulary.SpecialIds.Order());
        Assert.Equal(Enumerable.Range(Specials + Starts, Continuations), Vocabulary.ContinuationIds.Order());
    }

    [Fact]
    public void Token_masking_chooses_15_percent_and_treats_them_80_10_10()
    {
        var (sequences, _) = Corpus();
        var masked = new MaskedSequences(sequences, Vocabulary, MaskingStrategy.Token, 0.15, seed: 5).Epoch(0);

        int pieces = 0, chosen = 0, toMask = 0, toRandom = 0, kept = 0;
        for (var s = 0; s < sequences.Count; s++)
        {
            var (original, example) = (sequences[s], masked[s]);
            Assert.Equal(original.Length, example.Ids.Length);
            for (var i = 0; i < original.Length; i++)
            {
                if (IsSpecial(original[i]))
                {
                    Assert.Equal(original[i], example.Ids[i]);
                    Assert.Equal(-100, example.Labels[i]);
                    continue;
                }
                pieces++;
                if (example.Labels[i] == -100)
                {
                    Assert.Equal(original[i], example.Ids[i]);
                    continue;
                }
                Assert.Equal(original[i], example.Labels[i]);
                chosen++;
                if (example.Ids[i] == Tokenizer.MaskId) toMask++;
                else if (example.Ids[i] == original[i]) kept++;
                else toRandom++;
            }
        }
        Assert.InRange(pieces, 5000, 7000);
        Assert.InRange((double)chosen / pieces, 0.13, 0.17);
        Assert.InRange((double)toMask / chosen, 0.75, 0.85);
        Assert.InRange((double)toRandom / chosen, 0.06, 0.14);
        Assert.InRange((double)kept / chosen, 0.06, 0.14);
    }

    [Fact]
    public void Masks_repeat_for_a_seed_and_epoch_and_change_with_either()
    {
        var (sequences, _) = Corpus();
        EncodedTokens[] Masks(int seed, int epoch) => new MaskedSequences(sequences, Vocabulary, MaskingStrategy.Token, 0.15, seed).Epoch(epoch);
        static string Key(EncodedTokens[] masks) => string.Join("|", masks.Select(m => string.Join(",", m.Ids) + ";" + string.Join(",", m.Labels)));

        Assert.Equal(Key(Masks(5, 0)), Key(Masks(5, 0)));
        Assert.NotEqual(Key(Masks(5, 0)), Key(Masks(5, 1)));
        Assert.NotEqual(Key(Masks(5, 0)), Key(Masks(6, 0)));

        // A sequence's mask does not depend on which others were masked before it: batches may be masked lazily.
        var set = new MaskedSequences(sequences, Vocabulary, MaskingStrategy.WholeWord, 0.15, seed: 5);
        Assert.Equal(Key(set.Epoch(3)[17..18]), Key([set.Example(17, 3)]));
    }

    [Fact]
    public void Whole_word_masking_never_splits_a_word_and_covers_15_percent()
    {
        var (sequences, words) = Corpus();
        var masked = new MaskedSequences(sequences, Vocabulary, MaskingStrategy.WholeWord, 0.15, seed: 9).Epoch(0);

        int pieces = 0, labelled = 0, toMask = 0;
        for (var s = 0; s < sequences.Count; s++)
        {
            var example = masked[s];
            foreach (var (start, length) in words[s])
            {
                var labels = example.Labels[start..(start + length)];
                Assert.True(labels.All(l => l == -100) || labels.All(l => l != -100),
                    $"sequence {s}: word at {start} of {length} pieces is split: {string.Join(", ", labels)}");
            }
            for (var i = 0; i < sequences[s].Length; i++)
            {
                if (IsSpecial(sequences[s][i]))
                {
                    Assert.Equal(-100, example.Labels[i]);
                    continue;
                }
                pieces++;
                if (example.Labels[i] == -100) continue;
                Assert.Equal(sequences[s][i], example.Labels[i]);
                labelled++;
                if (example.Ids[i] == Tokenizer.MaskId) toMask++;
            }
        }
        Assert.InRange((double)labelled / pieces, 0.13, 0.17);
        Assert.InRange((double)toMask / labelled, 0.75, 0.85);
    }

    [Fact]
    public void Whole_word_masking_keeps_minilm_word_pieces_together()
    {
        var tokenizer = models.Open("minilm").Tokenizer;
        var vocabulary = MaskingVocabulary.Of(tokenizer);
        var ids = tokenizer.Encode("Schwarzenegger met Stallone in an unbelievably loud warehouse", 64);
        var tokens = ids.Select(tokenizer.TokenOf).ToArray();
        var pieceCount = tokens.Count(t => t.StartsWith("##", StringComparison.Ordinal));
        Assert.True(pieceCount >= 3, $"expected several ## pieces in {string.Join(" ", tokens)}");

        // At 0.15 the budget (2 of 15 pieces) is smaller than the name's three pieces, which would never be chosen.
        var set = new MaskedSequences([ids], vocabulary, MaskingStrategy.WholeWord, 0.5, seed: 1);
        var schwarzeneggerMasked = 0;
        for (var epoch = 0; epoch < 200; epoch++)
        {
            var labels = set.Example(0, epoch).Labels;
            for (var i = 1; i < ids.Length - 1; i++)
            {
                // Every ## piece is labelled exactly when the piece before it is.
                if (tokens[i].StartsWith("##", StringComparison.Ordinal))
                    Assert.Equal(labels[i - 1] != -100, labels[i] != -100);
            }
            if (labels[1] != -100) schwarzeneggerMasked++;
        }
        Assert.InRange(schwarzeneggerMasked, 1, 199);
    }

    [Fact]
    public void Collated_labels_ignore_padding()
    {
        EncodedTokens[] examples = [new([2, 4, 7, 3], [-100, 7, -100, -100]), new([2, 3], [-100, -100])];
        using var batch = Batching.CollateTokens(examples, padId: 0, TorchSharp.torch.CPU);
        Assert.Equal([2L, 4], batch.Labels.shape);
        Assert.Equal([-100L, 7, -100, -100, -100, -100, -100, -100], batch.Labels.data<long>().ToArray());
        Assert.Equal([1L, 1, 1, 1, 1, 1, 0, 0], batch.AttentionMask.data<long>().ToArray());
        Assert.Equal([2L, 4, 7, 3, 2, 3, 0, 0], batch.InputIds.data<long>().ToArray());
    }

    [Fact]
    public void A_probability_outside_0_to_1_is_rejected()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Masking.Mask([2, 9, 3], Vocabulary, MaskingStrategy.Token, 1.5, new Random(0)));
        Assert.Contains("masking probability must lie in [0, 1]", error.Message);
    }
}
