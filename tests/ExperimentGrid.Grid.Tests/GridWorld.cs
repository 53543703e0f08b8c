using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// What sweep tests share: the bundled MiniLM imported once into a cache beside the test binaries, and a data root
/// holding rotten_tomatoes (copied from the shared datasets: a link out of the data root is refused) and a dataset that
/// fails when a trial reads it.
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
        {
            Directory.CreateDirectory(rottenTomatoes);
            foreach (var split in Directory.EnumerateFiles(Path.Combine(DatasetLocator.DefaultDataRoot(), "rotten_tomatoes")))
                File.Copy(split, Path.Combine(rottenTomatoes, Path.GetFileName(split)));
        }
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

    /// <summary>Runs a sweep of two tiny trials (learning rates 2e-5 and 5e-5) named <paramref name="name"/> to its end.</summary>
    public static async Task<SweepSnapshot> RunTwoTrialSweepAsync(IGrainFactory grains, string name)
    {
        var sweep = grains.GetGrain<ISweepGrain>(name);
        await sweep.SubmitAsync(new SweepSubmission($"{name}.yaml", TinySpec(name, "  learning_rate: [2.0e-5, 5.0e-5]")));
        return await WaitForEndAsync(sweep, TimeSpan.FromMinutes(5), grains: grains);
    }

    /// <summary>
    /// Runs a sweep to its end on a fresh silo of <paramref name="fakes"/>, and reads the sweep's leaderboard before the
    /// silo stops.
    /// </summary>
    public static async Task<(SweepSnapshot End, IReadOnlyList<LeaderboardRow> Rows)> RunOnFakesAsync(
        FakeTrainableFactory fakes, string name, string spec, TimeSpan limit)
    {
        using var directory = new TemporaryDirectory();
        await using var silo = await Silos.StartWithFakesAsync(directory.Path, fakes);
        var grains = silo.Services.GetRequiredService<IGrainFactory>();
        var sweep = grains.GetGrain<ISweepGrain>(name);
        await sweep.SubmitAsync(new SweepSubmission($"{name}.yaml", spec));
        var end = await WaitForEndAsync(sweep, limit, grains: grains);
        var rows = await grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).RankAsync(name, 100);
        await silo.StopAsync();
        return (end, rows);
    }

    /// <summary>
    /// Polls until the sweep has ended, handing each snapshot to <paramref name="observe"/>; fails after
    /// <paramref name="limit"/>, describing each trial as its grain sees it when <paramref name="grains"/> is given.
    /// </summary>
    public static async Task<SweepSnapshot> WaitForEndAsync(ISweepGrain sweep, TimeSpan limit, Func<SweepSnapshot, Task>? observe = null, IGrainFactory? grains = null)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            SweepSnapshot snapshot;
            try
            {
                snapshot = await sweep.GetAsync();
            }
            catch (Exception e) when (ClusterFaults.IsUnreachable(e) && DateTime.UtcNow < deadline)
            {
                // The sweep's silo was killed: calls fail until the cluster declares it dead and the grain moves.
                continue;
            }
            if (observe is not null) await observe(snapshot);
            if (snapshot.Status is SweepStatus.Finished or SweepStatus.Cancelled) return snapshot;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"sweep {snapshot.SweepId} did not end within {limit}: {string.Join(", ", snapshot.Trials.Select(t => $"{t.TrialId}={t.Status}"))}"
                    + (grains is null ? "" : await DescribeTrialsAsync(grains, snapshot)));
            await Task.Delay(250);
        }
    }

    private static async Task<string> DescribeTrialsAsync(IGrainFactory grains, SweepSnapshot sweep)
    {
        var lines = new List<string>();
        foreach (var trial in sweep.Trials)
        {
            var t = await grains.GetGrain<ITrialGrain>(TrialKeys.Format(sweep.SweepId, trial.TrialId)).GetAsync();
            lines.Add($"\n  {trial.TrialId}: {t.Status}, attempts {t.Attempts}, silo {t.Silo ?? "none"}, step {t.Progress?.Step.ToString() ?? "none"}, "
                + $"checkpoint at step {t.CheckpointStep}, resumed from {t.ResumedFromStep?.ToString() ?? "none"}, error {t.Error ?? "none"}");
        }
        var queue = await grains.GetGrain<IWorkQueueGrain>(0).PeekAsync();
        return string.Concat(lines) + $"\n  queue: [{string.Join(", ", queue)}]";
    }

}
