using System.Collections.Concurrent;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Core.Caching;

/// <summary>
/// Work one trial does that another can reuse, kept for every trial of a process: tokenized splits and frozen-prefix
/// activations in a <see cref="CacheStore"/> (on disk, shared by the silos that mount it), with what this process
/// knows about the sweeps it runs: which freeze depths they ask for, and which prefixes it used lately.
/// </summary>
public sealed class WorkCache(string root, long maxBytes, ILogger? logger = null)
{
    /// <summary>20 GiB: a dozen frozen prefixes of a base-sized model on a dataset of rotten_tomatoes' size.</summary>
    public const long DefaultMaxBytes = 20L << 30;

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<FreezeDepth, byte>> _expected = new();
    private readonly ConcurrentDictionary<string, DateTimeOffset> _used = new();

    public CacheStore Store { get; } = new(root, maxBytes, logger);

    /// <summary>$EXPERIMENTGRID_HOME/cache, else ~/.cache/experimentgrid/cache.</summary>
    public static string DefaultRoot => MachinePaths.Cache("cache");

    /// <summary>
    /// The freeze depths that trials of <paramref name="family"/> will ask for (a sweep's freeze axis): computing a
    /// deep prefix stores the shallower ones on the way, since their layers run anyway.
    /// </summary>
    public void Expect(string family, IEnumerable<FreezeDepth> depths)
    {
        var known = _expected.GetOrAdd(family, _ => new());
        foreach (var depth in depths) known.TryAdd(depth, 0);
    }

    public IReadOnlyCollection<FreezeDepth> ExpectedDepths(string family) =>
        _expected.TryGetValue(family, out var known) ? [.. known.Keys] : [];

    /// <summary>Notes that a trial of this process used a prefix of <paramref name="family"/>: its pages are warm here.</summary>
    public void Used(string family) => _used[family] = DateTimeOffset.UtcNow;

    /// <summary>The families this process used within <paramref name="window"/>, most recent first: where trials of them run best.</summary>
    public IReadOnlyList<string> RecentlyUsed(TimeSpan window)
    {
        var since = DateTimeOffset.UtcNow - window;
        return [.. _used.Where(u => u.Value >= since).OrderByDescending(u => u.Value).Select(u => u.Key)];
    }
}
