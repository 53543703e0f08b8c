using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Caching;

/// <summary>
/// Which trials can share a frozen prefix. The prefix (embeddings and the bottom k layers, in eval mode and without
/// gradients) maps each example to the same hidden states in every epoch and in every trial with the same model and
/// inputs, so one computation serves them all.
/// </summary>
public static class FrozenPrefix
{
    public const string Kind = "frozen-prefix";

    /// <summary>The tasks whose examples are fixed sequences: masked-LM redraws its inputs each epoch, SetFit feeds pairs.</summary>
    public static bool Supports(TaskKind task) => task is TaskKind.TextClassification or TaskKind.TokenClassification;

    /// <summary>
    /// Why a trial of this spec computes its prefix itself, or null when it reads it from the cache. fp32 only: a
    /// bf16 prefix would be rounded differently from the one it stands in for.
    /// </summary>
    public static string? WhyNot(TrialSpec spec) =>
        !spec.PrefixCache ? "prefix_cache is off"
        : !Supports(spec.Task) ? $"{TaskKinds.Name(spec.Task)} trials do not use it"
        : spec.Precision != ComputePrecision.Fp32 ? "it holds fp32 activations and this trial computes in bf16"
        : null;

    public static bool Applies(TrialSpec spec) => spec.Freeze.FreezesEmbeddings && WhyNot(spec) is null;

    /// <summary>
    /// What trials must share, besides their freeze depth, for one prefix to serve them: the same model, data,
    /// tokenization and slice. Null when the spec reads no prefix from the cache. A slot that ran one trial of a family
    /// holds its prefix in its page cache: the queue places the family's next trials there when it can.
    /// </summary>
    public static string? Family(TrialSpec spec)
    {
        if (!Applies(spec)) return null;
        var sliced = spec.TrainLimit is not null || spec.EvalLimit is not null || spec.SamplesPerClass is not null;
        return CacheStore.Key(Kind, TaskKinds.Name(spec.Task), spec.Model, spec.DataRoot ?? "", spec.Dataset, spec.TextColumn, spec.LabelColumn,
            spec.TrainSplit, spec.EvalSplit, spec.TestSplit ?? "", $"{spec.TrainLimit}", $"{spec.EvalLimit}", $"{spec.SamplesPerClass}",
            sliced ? $"{spec.Seed}" : "", $"{spec.MaxLength}", string.Join(",", spec.LabelNames ?? []))[..16];
    }
}

/// <summary>
/// A trial's view of the frozen-prefix cache: the examples it registered map to their rows of an entry, computed once
/// (by the first trial that needs them) and read by every later trial. An entry's key hashes the encoder's weights,
/// the examples' token ids (which covers the tokenizer, max_length, the dataset file, its split and any slice), the
/// depth and the dtype.
/// </summary>
public sealed class FrozenPrefixCache<TExample>(
    WorkCache cache,
    BertModel bert,
    TrialSpec spec,
    Func<IReadOnlyList<TExample>, Batch> collate,
    Func<TExample, int[]> tokenIds,
    ILogger logger) : IDisposable where TExample : class
{
    private readonly Dictionary<TExample, (PackedRows Rows, int Index)> _rows = new(ReferenceEqualityComparer.Instance);
    private readonly List<IDisposable> _open = [];
    private readonly string _modelHash = WeightsHash(bert);

    private int Depth => bert.Freeze.FrozenLayerCount(bert.Config.NumHiddenLayers);
    private int Width => bert.Config.HiddenSize;

    /// <summary>Reads <paramref name="examples"/>' prefix outputs from the cache, computing and storing them where missing.</summary>
    public void Register(IReadOnlyList<TExample> examples, string split, int batchSize)
    {
        if (examples.Count == 0 || examples.All(_rows.ContainsKey)) return;
        var examplesHash = ExamplesHash(examples);
        string Key(int depth) => CacheStore.Key(FrozenPrefix.Kind, "v1", _modelHash, examplesHash, $"{examples.Count}", $"depth {depth}", "fp32");
        var family = FrozenPrefix.Family(spec);
        if (family is not null) cache.Used(family);

        var store = cache.Store;
        var lease = store.TryOpen(FrozenPrefix.Kind, Key(Depth));
        if (lease is null)
        {
            var gate = store.BuildGate(FrozenPrefix.Kind, Key(Depth));
            gate.Wait();
            try
            {
                lease = store.TryOpen(FrozenPrefix.Kind, Key(Depth)) ?? Build(examples, split, batchSize, Key, family);
            }
            finally
            {
                gate.Release();
            }
        }
        else
        {
            logger.LogInformation("Frozen prefix of {Split} ({Examples} examples, {Depth} layers) read from the cache {Entry}", split, examples.Count, Depth, lease.Directory);
        }
        _open.Add(lease);
        var rows = PackedRows.Open(lease.Directory, Width);
        _open.Add(rows);
        for (var i = 0; i < examples.Count; i++)
        {
            if (rows.Length(i) != tokenIds(examples[i]).Length)
                throw new InvalidDataException($"{lease.Directory}: example {i} has {rows.Length(i)} cached rows and {tokenIds(examples[i]).Length} tokens");
            _rows[examples[i]] = (rows, i);
        }
    }

    /// <summary>The prefix output of a batch, [its real tokens, hidden] on the CPU, or null when one of them is not registered.</summary>
    public Tensor? Rows(IReadOnlyList<TExample> batch)
    {
        if (batch.Count == 0 || !_rows.TryGetValue(batch[0], out var first)) return null;
        var indices = new int[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            if (!_rows.TryGetValue(batch[i], out var row) || row.Rows != first.Rows) return null;
            indices[i] = row.Index;
        }
        return first.Rows.Gather(indices);
    }

    /// <summary>
    /// Runs the prefix over <paramref name="examples"/> in length-sorted batches and stores it. It starts from the deepest
    /// shallower depth already cached, and stores the shallower depths the sweep expects on its way up.
    /// </summary>
    private CacheLease Build(IReadOnlyList<TExample> examples, string split, int batchSize, Func<int, string> key, string? family)
    {
        var store = cache.Store;
        var expected = family is null ? [] : cache.ExpectedDepths(family).Select(d => d.FrozenLayerCount(bert.Config.NumHiddenLayers)).ToHashSet();
        CacheLease? startLease = null;
        var start = 0;
        for (var depth = Depth - 1; depth >= 1 && startLease is null; depth--)
            if (store.TryOpen(FrozenPrefix.Kind, key(depth)) is { } shallower) (startLease, start) = (shallower, depth);
        bool Cached(int depth)
        {
            using var had = store.TryOpen(FrozenPrefix.Kind, key(depth));
            return had is not null;
        }
        List<int> targets = [.. expected.Where(d => d > start && d < Depth && !Cached(d)).Append(Depth).Distinct().Order()];

        logger.LogInformation("Computing the frozen prefix of {Split} ({Examples} examples) at depth{S} {Depths}, from {Start}",
            split, examples.Count, targets.Count > 1 ? "s" : "", string.Join(", ", targets), start == 0 ? "the embeddings" : $"the cached depth {start}");
        using var startRows = startLease is null ? null : PackedRows.Open(startLease.Directory, Width);
        var pending = targets.ToDictionary(d => d, _ => store.NewPendingDirectory(FrozenPrefix.Kind));
        try
        {
            var writers = targets.ToDictionary(d => d, d => new PackedRows.Writer(pending[d], examples.Count, Width));
            try
            {
                bert.eval();
                foreach (var indices in Batching.LengthSortedBatches(examples, e => tokenIds(e).Length, batchSize))
                {
                    using var scope = NewDisposeScope();
                    using var batch = collate([.. indices.Select(i => examples[i])]);
                    var layout = TokenLayout.Of(batch.AttentionMask);
                    var hidden = startRows is null
                        ? bert.EmbedFrozen(batch.InputIds, batch.TokenTypeIds, layout)
                        : startRows.Gather(indices).to(batch.InputIds.device);
                    var at = start;
                    foreach (var depth in targets)
                    {
                        hidden = bert.RunFrozenLayers(hidden, layout, at, depth);
                        at = depth;
                        var values = hidden.cpu().data<float>().ToArray();
                        var offset = 0;
                        foreach (var i in indices)
                        {
                            var length = tokenIds(examples[i]).Length * Width;
                            writers[depth].Add(i, values.AsSpan(offset, length));
                            offset += length;
                        }
                    }
                }
                foreach (var writer in writers.Values) writer.Finish();
            }
            finally
            {
                foreach (var writer in writers.Values) writer.Dispose();
            }
        }
        catch
        {
            foreach (var directory in pending.Values) store.Abandon(directory);
            startLease?.Dispose();
            throw;
        }
        startLease?.Dispose();

        CacheLease? requested = null;
        foreach (var depth in targets)
        {
            var description = new Dictionary<string, string>
            {
                ["model"] = spec.Model,
                ["dataset"] = spec.Dataset,
                ["split"] = split,
                ["examples"] = $"{examples.Count}",
                ["tokens"] = $"{examples.Sum(e => (long)tokenIds(e).Length)}",
                ["max_length"] = $"{spec.MaxLength}",
                ["depth"] = $"{depth}",
                ["dtype"] = "fp32",
            };
            var lease = store.Commit(FrozenPrefix.Kind, key(depth), description, pending[depth]);
            if (depth == Depth) requested = lease;
            else lease.Dispose();
        }
        return requested!;
    }

    private string ExamplesHash(IReadOnlyList<TExample> examples)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var example in examples)
        {
            var ids = tokenIds(example);
            hash.AppendData(BitConverter.GetBytes(ids.Length));
            hash.AppendData(MemoryMarshal.AsBytes(ids.AsSpan()));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The encoder's weights as loaded, before any step: a fine-tuned checkpoint is another prefix than its base.</summary>
    private static string WeightsHash(BertModel bert)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in bert.named_parameters())
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            using var values = parameter.detach().cpu().to_type(ScalarType.Float32).contiguous();
            hash.AppendData(MemoryMarshal.AsBytes(values.data<float>().ToArray().AsSpan()));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public void Dispose()
    {
        foreach (var open in _open) open.Dispose();
        _open.Clear();
        _rows.Clear();
    }
}
