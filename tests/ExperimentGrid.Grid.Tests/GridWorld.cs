using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Grains.Sweeps;
using ExperimentGrid.Grains.Trials;
using Orleans.Runtime;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// What sweep tests share: the bundled MiniLM imported once into a cache beside the test binaries, and a data root
/// holding rotten_tomatoes (linked from the shared datasets) and a dataset that fails when a trial reads it.
/// </summary>
internal static class GridWorld
{
    public static string ModelCache { get; } = Path.Combine(AppContext.BaseDirectory, "model-cache");

    private static readonly Lazy<string> MiniLm = new(() => BundledModels.EnsureImported(BundledModels.Find("minilm")!, cacheRoot: ModelCache));

    public static string MiniLmDirectory => MiniLm.Value;

    /// <summary>A data root under <paramref name="directory"/>: rotten_tomatoes, and "broken" whose train file has a text label.</summary>
    public static string DataRoot(string directory)
    {
        var root = Directory.CreateDirectory(Path.Combine(directory, "data")).FullName;
        var rottenTomatoes = Path.Combine(root, "rotten_tomatoes");
        if (!Directory.Exists(rottenTomatoes))
            Directory.CreateSymbolicLink(rottenTomatoes, Path.Combine(DatasetLocator.DefaultDataRoot(), "rotten_tomatoes"));
        var broken = Directory.CreateDirectory(Path.Combine(root, "broken")).FullName;
        File.WriteAllText(Path.Combine(broken, "train.jsonl"), "{\"text\": \"fine\", \"label\": 1}\n{\"text\": \"bad\", \"label\": \"pos\"}\n");
        File.WriteAllText(Path.Combine(broken, "validation.jsonl"), "{\"text\": \"fine\", \"label\": 1}\n");
        return root;
    }

    public static SweepRoots Roots(string directory) => new(DataRoot(directory), [ModelCache], Path.Combine(directory, "checkpoints"));

    /// <summary>A sweep of tiny trials (32 training examples of 32 tokens, 16 to evaluate) varying <paramref name="grid"/>; a null dataset leaves it to the grid.</summary>
    public static string TinySpec(string name, string grid, int? maxConcurrent = null, int retries = 0, int epochs = 1, string? dataset = "rotten_tomatoes") => $"""
        name: {name}
        trial:
          task: text-classification
          model: {MiniLmDirectory}
          {(dataset is null ? "" : $"dataset: {dataset}")}
          train_limit: 32
          eval_limit: 16
          max_length: 32
          batch_size: 8
          epochs: {epochs}
          test_split: none
        grid:
        {grid}
        objective:
          metric: f1
          mode: max
        {(maxConcurrent is { } m ? $"max_concurrent_trials: {m}" : "")}
        retries: {retries}
        """;

    /// <summary>Polls until the sweep has ended, handing each snapshot to <paramref name="observe"/>; fails after <paramref name="limit"/>.</summary>
    public static async Task<SweepSnapshot> WaitForEndAsync(ISweepGrain sweep, TimeSpan limit, Func<SweepSnapshot, Task>? observe = null)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            SweepSnapshot snapshot;
            try
            {
                snapshot = await sweep.GetAsync();
            }
            catch (Exception e) when (e is TimeoutException or SiloUnavailableException or OrleansMessageRejectionException && DateTime.UtcNow < deadline)
            {
                // The sweep's silo was killed: calls fail until the cluster declares it dead and the grain moves.
                continue;
            }
            if (observe is not null) await observe(snapshot);
            if (snapshot.Status is SweepStatus.Finished or SweepStatus.Cancelled) return snapshot;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"sweep {snapshot.SweepId} did not end within {limit}: {string.Join(", ", snapshot.Trials.Select(t => $"{t.TrialId}={t.Status}"))}");
            await Task.Delay(250);
        }
    }

    public static bool IsFinal(TrialStatus status) => status is TrialStatus.Completed or TrialStatus.Failed or TrialStatus.Cancelled;
}
