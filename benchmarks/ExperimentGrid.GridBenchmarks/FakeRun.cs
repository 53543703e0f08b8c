using System.Diagnostics;
using System.Globalization;
using ExperimentGrid.Contracts;
using ExperimentGrid.TestSupport;
using Npgsql;

namespace ExperimentGrid.GridBenchmarks;

/// <summary>
/// What --fake runs: a random search of fake trainables (tests/ExperimentGrid.TestSupport) that train for a few
/// milliseconds, so that nearly all of a sweep's wall time is the grid's own; then a grid too large to run.
/// </summary>
public sealed record FakeWorkload(int Trials, int Silos)
{
    public const int StepsPerEpoch = 2;
    public const double StepMilliseconds = 1;

    /// <summary>An empty folder: fakes read no data, but a sweep checks that its dataset exists.</summary>
    public const string Dataset = "fake";

    public const int GridPoints = 100_000;

    /// <summary>One CPU slot per silo, as in the MiniLM runs.</summary>
    public int Slots => Silos;

    public static FakeSiloSettings Fakes { get; } = new(StepsPerEpoch, StepMilliseconds, Noise: 0.01);

    public string RandomSpec => $"""
        name: gridbench-fake
        trial:
          task: text-classification
          model: minilm
          dataset: {Dataset}
          epochs: 1
          eval_limit: 16
          test_split: none
        random:
          learning_rate:
            log_uniform: [1.0e-5, 1.0e-3]
          batch_size:
            choice: [8, 16, 32, 64]
          weight_decay:
            uniform: [0.0, 0.1]
        trials: {Trials}
        search_seed: 7
        objective:
          metric: f1
          mode: max
        retries: 0
        checkpoint_every: 0
        """;

    /// <summary>learning_rate × batch_size × weight_decay × epochs × max_length, 10 values each: the issue's 10^5-point grid.</summary>
    public static string GridSpec => SweepSpecs.HundredThousandPoints("gridbench-grid", $"{{ model: minilm, dataset: {Dataset}, eval_limit: 16, test_split: none }}");
}

/// <summary>Writes of one kind of grain state, from the store's version column: each write adds one to its row's version.</summary>
public sealed record StateWrites(string State, int Grains, long Writes, long Bytes);

/// <summary>Rows PostgreSQL counted inserted, updated and deleted in one table (pg_stat_user_tables).</summary>
public sealed record TableWrites(string Table, long Inserted, long Updated, long Deleted);

/// <summary>The 10^5-point grid: how long its submission took, what it created and stored, and its cancellation.</summary>
public sealed record LargeGrid(int Points, TimeSpan Accept, TimeSpan FirstTrialStarted, int TrialsCreated, long StoredBytes, TimeSpan Cancel, SweepStatus Status);

/// <summary>What --fake measured.</summary>
public sealed record FakeResult(
    FakeWorkload Workload,
    TimeSpan Healthy,
    SweepRun Sweep,
    IReadOnlyList<TrialTiming> Trials,
    IReadOnlyList<int> TrialStarts,
    IReadOnlyList<int> Warnings,
    IReadOnlyList<StateWrites> StateWrites,
    IReadOnlyList<Timing> StateWriteTimes,
    IReadOnlyList<Timing> GrainCalls,
    IReadOnlyList<TableWrites> TableWrites,
    long Transactions,
    LargeGrid Grid)
{
    public double TrialSeconds => Trials.Sum(t => t.Seconds);

    /// <summary>Slot time not spent holding a trial, per trial: (slots × wall − Σ trial time) / trials.</summary>
    public double OverheadSecondsPerTrial => (Workload.Slots * Sweep.Wall.TotalSeconds - TrialSeconds) / Trials.Count;

    public double TrialsPerSecond => Trials.Count / Sweep.Wall.TotalSeconds;
}

public static class FakeRun
{
    private static readonly TimeSpan SweepLimit = TimeSpan.FromMinutes(20);
    private const string SweepId = "gridbench-fake";
    private const string GridId = "gridbench-grid";

    /// <summary>
    /// PostgreSQL reports a backend's row counts when it goes idle, at most every second, and an idle backend's
    /// within about ten: waiting this long after the sweep makes the counts whole.
    /// </summary>
    private static readonly TimeSpan StatisticsDelay = TimeSpan.FromSeconds(11);

    public static async Task<FakeResult> MeasureAsync(FakeWorkload workload, string work, string postgres, string logs, CancellationToken cancellationToken)
    {
        var runId = $"gridfake_{Guid.NewGuid():N}"[..24];
        var checkpoints = Path.Combine(work, "checkpoints", runId);
        var dataRoot = Path.Combine(work, "fake-data");
        Directory.CreateDirectory(Path.Combine(dataRoot, FakeWorkload.Dataset));
        await using var database = await FreshDatabase.CreateAsync(postgres, runId, cancellationToken);
        var launch = new SiloLaunch(SiloExecutable.FakeSilo,
            [.. SiloLaunch.PostgresArguments(database.ConnectionString, runId), "--slots", "cpu:1", "--checkpoints", checkpoints, "--data-root", dataRoot],
            Directory.CreateDirectory(Path.Combine(logs, "fake")).FullName)
        {
            Environment = FakeWorkload.Fakes.ToEnvironment(),
        };
        try
        {
            await using var cluster = await Cluster.StartAsync(workload.Silos, launch, database.ConnectionString, runId, cancellationToken);
            BenchmarkHost.Progress($"{workload.Silos} fake silo(s) healthy after {cluster.Healthy.TotalSeconds:F1} s; submitting {workload.Trials} trials of random search");
            try
            {
                var warningsBefore = cluster.Silos.Select(p => p.Warnings).ToList();
                var tablesBefore = await TableWritesAsync(database.ConnectionString, cancellationToken);
                var transactionsBefore = await TransactionsAsync(database.ConnectionString, runId, cancellationToken);
                var callsBefore = await SiloMetrics.ScrapeAsync(cluster.Silos, SiloMetrics.GrainCalls, "method", cancellationToken);
                var writesBefore = await SiloMetrics.ScrapeAsync(cluster.Silos, SiloMetrics.StateWrites, "state_name", cancellationToken);
                var run = await cluster.RunSweepAsync(SweepId, new SweepSubmission("gridbench-fake.yaml", workload.RandomSpec), SweepLimit, cancellationToken);
                var warnings = cluster.Silos.Select((p, i) => p.Warnings - warningsBefore[i]).ToList();
                var trialStarts = cluster.Silos.Select(p => p.TrialStarts).ToList();
                var calls = SiloMetrics.Between(callsBefore, await SiloMetrics.ScrapeAsync(cluster.Silos, SiloMetrics.GrainCalls, "method", cancellationToken));
                var writeTimes = SiloMetrics.Between(writesBefore, await SiloMetrics.ScrapeAsync(cluster.Silos, SiloMetrics.StateWrites, "state_name", cancellationToken));
                BenchmarkHost.Progress($"random search: {run.End.Trials.Count} trials in {run.Wall.TotalSeconds:F1} s; reading their records and the store's counts");
                var trials = await cluster.TrialTimingsAsync(run.End);
                if (trials.Count != workload.Trials)
                    throw new BenchmarkException($"the random search ran {trials.Count} trials, not {workload.Trials} ({run.End.EndReason ?? "no end reason"})");
                var states = await StateWritesAsync(database.ConnectionString, cancellationToken);
                await Task.Delay(StatisticsDelay, cancellationToken);
                var tables = Subtract(await TableWritesAsync(database.ConnectionString, cancellationToken), tablesBefore);
                var transactions = await TransactionsAsync(database.ConnectionString, runId, cancellationToken) - transactionsBefore;

                BenchmarkHost.Progress($"submitting the {FakeWorkload.GridPoints}-point grid");
                var grid = await LargeGridAsync(cluster, database.ConnectionString, cancellationToken);
                return new FakeResult(workload, cluster.Healthy, run, trials, trialStarts, warnings, states, writeTimes, calls, tables, transactions, grid);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw cluster.Failure(e);
            }
        }
        finally
        {
            if (Directory.Exists(checkpoints)) Directory.Delete(checkpoints, recursive: true);
        }
    }

    /// <summary>Submits the grid, waits for its first trial to start, reads the size of its stored state, and cancels it.</summary>
    private static async Task<LargeGrid> LargeGridAsync(Cluster cluster, string connectionString, CancellationToken cancellationToken)
    {
        var sweep = cluster.Grains.GetGrain<ISweepGrain>(GridId);
        var clock = Stopwatch.StartNew();
        await cluster.UnlessASiloExits(sweep.SubmitAsync(new SweepSubmission("gridbench-grid.yaml", FakeWorkload.GridSpec)), "during the grid's submission");
        var accept = clock.Elapsed;
        SweepSnapshot snapshot;
        while (true)
        {
            snapshot = await cluster.UnlessASiloExits(sweep.GetAsync(), "while the grid ran");
            if (snapshot.Trials.Any(t => t.Status != TrialStatus.Pending)) break;
            if (clock.Elapsed > TimeSpan.FromMinutes(1)) throw new BenchmarkException("no trial of the grid started within a minute of its submission");
            await Task.Delay(TimeSpan.FromMilliseconds(10), cancellationToken);
        }
        var firstStarted = clock.Elapsed;
        var stored = await SweepStateBytesAsync(connectionString, GridId, cancellationToken);
        clock.Restart();
        await cluster.UnlessASiloExits(sweep.CancelAsync(), "while the grid was cancelled");
        var cancel = clock.Elapsed;
        var end = await sweep.GetAsync();
        return new LargeGrid(snapshot.SpaceSize, accept, firstStarted, end.Trials.Count, stored, cancel, end.Status);
    }

    private static async Task<List<StateWrites>> StateWritesAsync(string connectionString, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(connectionString,
            "SELECT GrainTypeString, count(*), sum(Version), coalesce(sum(octet_length(PayloadBinary)), 0) FROM OrleansStorage GROUP BY GrainTypeString ORDER BY sum(Version) DESC",
            cancellationToken);
        return [.. rows.Select(r => new StateWrites((string)r[0], Convert.ToInt32(r[1], CultureInfo.InvariantCulture),
            Convert.ToInt64(r[2], CultureInfo.InvariantCulture), Convert.ToInt64(r[3], CultureInfo.InvariantCulture)))];
    }

    private static async Task<long> SweepStateBytesAsync(string connectionString, string sweepId, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(connectionString,
            $"SELECT octet_length(PayloadBinary) FROM OrleansStorage WHERE GrainIdExtensionString = '{sweepId}' AND GrainTypeString ILIKE '%sweep%'", cancellationToken);
        return rows is [[var bytes]] ? Convert.ToInt64(bytes, CultureInfo.InvariantCulture) : throw new BenchmarkException($"no stored state of sweep {sweepId} in OrleansStorage");
    }

    private static async Task<List<TableWrites>> TableWritesAsync(string connectionString, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(connectionString,
            "SELECT pg_stat_clear_snapshot(); SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables ORDER BY relname", cancellationToken);
        return [.. rows.Select(r => new TableWrites((string)r[0], (long)r[1], (long)r[2], (long)r[3]))];
    }

    private static List<TableWrites> Subtract(List<TableWrites> after, List<TableWrites> before) =>
        [.. after.Select(a => before.FirstOrDefault(b => b.Table == a.Table) is { } b ? new TableWrites(a.Table, a.Inserted - b.Inserted, a.Updated - b.Updated, a.Deleted - b.Deleted) : a)
            // OrleansQuery is written once, by the schema the silos apply as they start; its counts may arrive late.
            .Where(t => t.Inserted + t.Updated + t.Deleted > 0 && t.Table != "orleansquery")];

    private static async Task<long> TransactionsAsync(string connectionString, string database, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(connectionString, $"SELECT pg_stat_clear_snapshot(); SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{database}'", cancellationToken);
        return (long)rows.Single()[0];
    }

    /// <summary>The rows of the command's last result set.</summary>
    private static async Task<List<object[]>> QueryAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<object[]>();
        do
        {
            rows.Clear();
            while (await reader.ReadAsync(cancellationToken))
            {
                var row = new object[reader.FieldCount];
                reader.GetValues(row);
                rows.Add(row);
            }
        }
        while (await reader.NextResultAsync(cancellationToken));
        return rows;
    }
}
