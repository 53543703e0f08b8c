using static TorchSharp.torch;

namespace ExperimentGrid.Core.Data;

/// <summary>A tokenized example: [CLS] pieces [SEP], and its class id.</summary>
public sealed record EncodedExample(int[] Ids, int Label);

/// <summary>Two tokenized sentences and how similar their embeddings should be (SetFit: 1 same class, 0 not).</summary>
public sealed record SentencePair(int[] First, int[] Second, float Target);

/// <summary>One padded batch on its device. Disposing it frees the tensors.</summary>
public sealed class Batch : IDisposable
{
    public required Tensor InputIds { get; init; }
    public required Tensor AttentionMask { get; init; }
    public required Tensor TokenTypeIds { get; init; }
    public required Tensor Labels { get; init; }
    public int Size { get; init; }

    /// <summary>The frozen prefix's output for this batch, [real tokens, hidden], where a cache holds it.</summary>
    public Tensor? CachedPrefix { get; set; }

    /// <summary>Real (non-padding) tokens in the batch.</summary>
    public long Tokens { get; init; }

    /// <summary>
    /// What the training loss averages over: the examples (or pairs) of a sequence batch, the labelled positions of a
    /// token batch. Counted on the CPU, so splitting a batch into micro-batches needs no device round trip.
    /// </summary>
    public long Targets { get; init; }

    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
        TokenTypeIds.Dispose();
        Labels.Dispose();
        CachedPrefix?.Dispose();
    }
}

public static class Batching
{
    /// <summary>The label the loss ignores: special tokens, padding, unmasked positions (PyTorch's ignore_index).</summary>
    public const long IgnoredLabel = -100;

    /// <summary>Pads to the longest sequence in the batch (dynamic padding), as DataCollatorWithPadding does.</summary>
    public static Batch Collate(IReadOnlyList<EncodedExample> examples, int padId, Device device) =>
        Padded([.. examples.Select(e => e.Ids)], tensor(examples.Select(e => (long)e.Label).ToArray()), padId, device);

    /// <summary>
    /// A batch of 2N sequences for N pairs, every first sentence before every second one, so one encoder pass embeds
    /// both sides; the labels are the N similarity targets.
    /// </summary>
    public static Batch CollatePairs(IReadOnlyList<SentencePair> pairs, int padId, Device device) =>
        Padded([.. pairs.Select(p => p.First), .. pairs.Select(p => p.Second)], tensor(pairs.Select(p => p.Target).ToArray()), padId, device);

    private static Batch Padded(IReadOnlyList<int[]> rows, Tensor labels, int padId, Device device)
    {
        var width = rows.Max(r => r.Length);
        var ids = new long[rows.Count * width];
        var mask = new long[ids.Length];
        Array.Fill(ids, padId);
        long tokens = 0;
        for (var b = 0; b < rows.Count; b++)
        {
            for (var t = 0; t < rows[b].Length; t++)
            {
                ids[b * width + t] = rows[b][t];
                mask[b * width + t] = 1;
            }
            tokens += rows[b].Length;
        }
        return new Batch
        {
            InputIds = tensor(ids, rows.Count, width).to(device),
            AttentionMask = tensor(mask, rows.Count, width).to(device),
            TokenTypeIds = zeros(rows.Count, width, ScalarType.Int64, device),
            Labels = labels.to(device),
            Size = rows.Count,
            Tokens = tokens,
            Targets = labels.shape[0],
        };
    }

    /// <summary>Pads ids with the pad id and labels with -100, so padding never reaches the loss.</summary>
    public static Batch CollateTokens(IReadOnlyList<EncodedTokens> examples, int padId, Device device)
    {
        var width = examples.Max(e => e.Ids.Length);
        var ids = new long[examples.Count * width];
        var mask = new long[ids.Length];
        var labels = new long[ids.Length];
        Array.Fill(ids, padId);
        Array.Fill(labels, Batching.IgnoredLabel);
        long tokens = 0;
        long targets = 0;
        for (var b = 0; b < examples.Count; b++)
        {
            var example = examples[b];
            for (var t = 0; t < example.Ids.Length; t++)
            {
                ids[b * width + t] = example.Ids[t];
                mask[b * width + t] = 1;
                labels[b * width + t] = example.Labels[t];
                if (example.Labels[t] != IgnoredLabel) targets++;
            }
            tokens += example.Ids.Length;
        }
        return new Batch
        {
            InputIds = tensor(ids, examples.Count, width).to(device),
            AttentionMask = tensor(mask, examples.Count, width).to(device),
            TokenTypeIds = zeros(examples.Count, width, ScalarType.Int64, device),
            Labels = tensor(labels, examples.Count, width).to(device),
            Size = examples.Count,
            Tokens = tokens,
            Targets = targets,
        };
    }

    /// <summary>Index batches of a seeded shuffle; <paramref name="epoch"/> varies the order from epoch to epoch.</summary>
    public static IEnumerable<int[]> ShuffledBatches(int count, int batchSize, int seed, int epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        // Not HashCode.Combine: it is salted per process, and a seed must repeat across runs.
        new Random(unchecked(seed * 1_000_003 + epoch)).Shuffle(order);
        return order.Chunk(batchSize);
    }

    /// <summary>Index batches in length order: the fewest padded tokens for evaluation, where order does not matter.</summary>
    public static IEnumerable<int[]> LengthSortedBatches<T>(IReadOnlyList<T> examples, Func<T, int> length, int batchSize) =>
        Enumerable.Range(0, examples.Count).OrderBy(i => length(examples[i])).ThenBy(i => i).Chunk(batchSize);
}
