using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using ExperimentGrid.Contracts;

namespace ExperimentGrid.TestSupport;

public enum FaultKind
{
    /// <summary>SIGKILL of a random silo, started again on its ports a moment later.</summary>
    SiloKill,

    /// <summary>SIGSTOP of a silo that trains, for longer than the lease, then SIGCONT: its trials have moved on meanwhile.</summary>
    Zombie,

    /// <summary>The PostgreSQL server restarted under the running cluster.</summary>
    PostgresRestart,

    /// <summary>The checkpoint directory full for a while: a tiny tmpfs, filled up, mounted over it, then unmounted.</summary>
    FullDisk,

    /// <summary>A running trial's latest checkpoint truncated, then its silo killed, so that the resume has to read it.</summary>
    CorruptCheckpoint,
}

/// <summary>
/// What a chaos run throws at a sweep, how often, in an order and at gaps drawn from <see cref="Seed"/>. The silos
/// must run with <see cref="Lease"/> as their --lease, and checkpoint under <see cref="CheckpointRoot"/>.
/// </summary>
public sealed record ChaosPlan(int Seed, TimeSpan Lease, string CheckpointRoot, Func<CancellationToken, Task> RestartPostgres)
{
    public int Kills { get; init; } = 10;
    public int Zombies { get; init; } = 1;
    public int PostgresRestarts { get; init; } = 1;
    public int FullDisks { get; init; } = 1;
    public int CorruptCheckpoints { get; init; } = 1;

    /// <summary>
    /// Whether the zombies come after every other fault. A silo that freezes while it hosts a grain every trial needs
    /// (the sweep, the queue, the leaderboard) holds the whole grid until the cluster declares it dead, a minute or
    /// more on a starved machine; a short sweep can end meanwhile, with faults still to inject.
    /// </summary>
    public bool ZombiesLast { get; init; }

    /// <summary>How long the checkpoint directory stays full.</summary>
    public TimeSpan FullDiskFor { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The pause between one fault's end (its silo healthy again) and the next, drawn uniformly from this range.</summary>
    public (TimeSpan Min, TimeSpan Max) Gap { get; init; } = (TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));

    public int Count => Kills + Zombies + PostgresRestarts + FullDisks + CorruptCheckpoints;

    /// <summary>Every fault, shuffled by the seed.</summary>
    public IReadOnlyList<FaultKind> Order(Random random)
    {
        FaultKind[] faults =
        [
            .. Enumerable.Repeat(FaultKind.SiloKill, Kills), .. Enumerable.Repeat(FaultKind.Zombie, Zombies),
            .. Enumerable.Repeat(FaultKind.PostgresRestart, PostgresRestarts), .. Enumerable.Repeat(FaultKind.FullDisk, FullDisks),
            .. Enumerable.Repeat(FaultKind.CorruptCheckpoint, CorruptCheckpoints),
        ];
        random.Shuffle(faults);
        return ZombiesLast ? [.. faults.Where(f => f != FaultKind.Zombie), .. faults.Where(f => f == FaultKind.Zombie)] : faults;
    }
}

/// <summary>A fault as it happened: when (from the submission), and what it did and what came of it, in words.</summary>
public sealed record InjectedFault(FaultKind Kind, TimeSpan At, string Detail);

/// <summary>What a zombie silo did once it woke: the calls its stale attempts made that the trial grains refused.</summary>
/// <param name="Trials">Trials it held when stopped, each with the attempt it held.</param>
/// <param name="MovedOn">Of those, the ones a successor attempt had taken before it woke.</param>
/// <param name="Refused">Calls of its stale attempts that the trial grains logged as refused, by call.</param>
/// <param name="SuccessorCheckpointsIntact">Whether every moved trial's checkpoint, as its grain holds it, was a successor's and still loadable (not touched by the zombie).</param>
public sealed record ZombieEvidence(IReadOnlyList<(string Trial, int Attempt)> Trials, IReadOnlyList<string> MovedOn,
    IReadOnlyDictionary<string, int> Refused, bool ExitedOnWaking, bool SuccessorCheckpointsIntact);

/// <summary>
/// The outcome of one sweep run under a <see cref="ChaosPlan"/> (or none, for the fault-free baseline).
/// <paramref name="Failures"/> holds the error of each failed attempt (each spent one of its trial's retries), as its grain logged it;
/// <paramref name="StaleModels"/> the leaderboard rows whose model is not the one their trial completed with, or is gone from disk.
/// </summary>
public sealed record ChaosResult(
    TimeSpan Wall,
    IReadOnlyList<InjectedFault> Faults,
    int Trials,
    int Completed,
    IReadOnlyList<string> Lost,
    IReadOnlyList<string> Duplicated,
    IReadOnlyList<string> Resumed,
    int StepsRedone,
    int ExtraAttempts,
    int CheckpointsDropped,
    int CheckpointsRefused,
    IReadOnlyList<ZombieEvidence> Zombies,
    IReadOnlyList<string> UnexpectedExits,
    IReadOnlyList<string> Failures,
    IReadOnlyList<string> StaleModels)
{
    public int Injected(FaultKind kind) => Faults.Count(f => f.Kind == kind);

    /// <summary>The line the chaos benchmark ends with.</summary>
    public string Summary => $"chaos: {Faults.Count} faults, {Trials} trials, {Lost.Count} lost, {Duplicated.Count} duplicated, {Resumed.Count} resumed";
}

/// <summary>
/// Runs a sweep on a <see cref="Cluster"/> while a seeded schedule of faults hits it, one fault at a time, and counts
/// what survived: trials lost (not completed), trials on the leaderboard more than once, trials resumed from a
/// checkpoint and the steps redone. Silos that exit when no fault killed them are started again and reported.
/// </summary>
public sealed partial class ChaosRun
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan CallLimit = TimeSpan.FromSeconds(10);

    private readonly Cluster _cluster;
    private readonly string _sweepId;
    private readonly ChaosPlan? _plan;
    private readonly Action<string> _progress;
    private readonly Random _random;
    private readonly Stopwatch _clock = new();

    // Held while a fault or a revival handles silos, so that a silo killed on purpose is never taken for one that crashed.
    private readonly SemaphoreSlim _silos = new(1, 1);
    private readonly List<InjectedFault> _faults = [];
    private readonly List<ZombieEvidence> _zombies = [];
    private readonly List<string> _unexpectedExits = [];

    // Per trial: the attempt last seen and the furthest step it was seen at; the steps redone and the trials resumed so far.
    private readonly Dictionary<string, (int Attempt, int Step)> _seen = [];
    private readonly HashSet<string> _resumed = [];
    private int _stepsRedone;
    private volatile bool _sweepEnded;

    private ChaosRun(Cluster cluster, string sweepId, ChaosPlan? plan, Action<string> progress) =>
        (_cluster, _sweepId, _plan, _progress, _random) = (cluster, sweepId, plan, progress, new Random(plan?.Seed ?? 0));

    private ISweepGrain Sweep => _cluster.Grains.GetGrain<ISweepGrain>(_sweepId);

    private ITrialGrain Trial(string trialId) => _cluster.Grains.GetGrain<ITrialGrain>(TrialKeys.Format(_sweepId, trialId));

    /// <summary>Submits the sweep, injects <paramref name="plan"/>'s faults (none when null) and waits for its end, for at most <paramref name="limit"/>.</summary>
    public static async Task<ChaosResult> RunAsync(Cluster cluster, string sweepId, SweepSubmission submission, ChaosPlan? plan, TimeSpan limit,
        Action<string> progress, CancellationToken cancellationToken)
    {
        var run = new ChaosRun(cluster, sweepId, plan, progress);
        return await run.RunAsync(submission, limit, cancellationToken);
    }

    private async Task<ChaosResult> RunAsync(SweepSubmission submission, TimeSpan limit, CancellationToken cancellationToken)
    {
        _clock.Start();
        await Sweep.SubmitAsync(submission);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var monkey = _plan is null ? Task.CompletedTask : Task.Run(() => InjectAsync(_plan, stop.Token), CancellationToken.None);
        try
        {
            while (true)
            {
                if (_clock.Elapsed > limit)
                    throw new BenchmarkException($"the sweep did not end within {limit.TotalMinutes:F0} minutes; {_faults.Count} fault(s) injected so far");
                if (monkey.IsFaulted) await monkey;
                await ReviveAsync(cancellationToken);
                if (await TryAsync(Sweep.GetAsync()) is { } sweep)
                {
                    await FollowAsync(sweep);
                    if (sweep.Status is SweepStatus.Finished or SweepStatus.Cancelled)
                    {
                        _sweepEnded = true;
                        break;
                    }
                }
                await Task.Delay(PollInterval, cancellationToken);
            }
            var wall = _clock.Elapsed;
            // A fault under way finishes (its silo is started again) before the count; one not yet begun is not injected.
            await monkey;
            return await CountAsync(wall);
        }
        finally
        {
            await stop.CancelAsync();
            try
            {
                await monkey;
            }
            catch (Exception e) when (e is OperationCanceledException or BenchmarkException)
            {
                // Already reported, or the run is being abandoned.
            }
        }
    }

    /// <summary>A grain call that a fault may hold up or break: null when it fails or takes longer than <see cref="CallLimit"/>.</summary>
    private static async Task<T?> TryAsync<T>(Task<T> call) where T : class
    {
        try
        {
            return await call.WaitAsync(CallLimit);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Tracks each running trial's attempt and furthest step: a new attempt redoes the steps between where its predecessor was seen and where it resumed.</summary>
    private async Task FollowAsync(SweepSnapshot sweep)
    {
        foreach (var trial in sweep.Trials)
        {
            var seen = _seen.GetValueOrDefault(trial.TrialId);
            if (trial.Attempts > seen.Attempt)
            {
                // The grain knows where the new attempt resumed from; the sweep's view does not.
                if (await TryAsync(Trial(trial.TrialId).GetAsync()) is not { } snapshot) continue;
                var resumedFrom = snapshot.Attempts == trial.Attempts ? snapshot.ResumedFromStep : null;
                if (resumedFrom is not null) _resumed.Add(trial.TrialId);
                if (seen.Attempt > 0) _stepsRedone += Math.Max(0, seen.Step - (resumedFrom ?? 0));
                seen = (trial.Attempts, resumedFrom ?? 0);
            }
            if (trial.Progress is { } progress && trial.Status == TrialStatus.Running) seen = (seen.Attempt, Math.Max(seen.Step, progress.Step));
            _seen[trial.TrialId] = seen;
        }
    }

    /// <summary>Starts again every silo that exited without a fault killing it, and reports it.</summary>
    private async Task ReviveAsync(CancellationToken cancellationToken)
    {
        await _silos.WaitAsync(cancellationToken);
        try
        {
            var silos = _cluster.Silos;
            for (var i = 0; i < silos.Count; i++)
            {
                if (!silos[i].HasExited) continue;
                var what = $"silo on port {silos[i].SiloPort} exited on its own at {_clock.Elapsed.TotalSeconds:F0} s";
                _unexpectedExits.Add(what);
                _progress($"{what}; starting it again\n{silos[i].Tail(20)}");
                await _cluster.Restart(i, cancellationToken);
            }
        }
        finally
        {
            _silos.Release();
        }
    }

    private async Task InjectAsync(ChaosPlan plan, CancellationToken cancellationToken)
    {
        // The first fault once trials train, so that every fault meets a sweep under way.
        while (!_sweepEnded && !_seen.Values.Any(s => s.Step > 0)) await Task.Delay(PollInterval, cancellationToken);
        foreach (var kind in plan.Order(_random))
        {
            var gap = plan.Gap.Min + (plan.Gap.Max - plan.Gap.Min) * _random.NextDouble();
            await Task.Delay(gap, cancellationToken);
            if (_sweepEnded) return;
            await _silos.WaitAsync(cancellationToken);
            try
            {
                var at = _clock.Elapsed;
                _progress($"{at.TotalSeconds:F0} s: {kind}");
                var detail = kind switch
                {
                    FaultKind.SiloKill => await KillAsync(cancellationToken),
                    FaultKind.Zombie => await ZombieAsync(plan, cancellationToken),
                    FaultKind.PostgresRestart => await RestartPostgresAsync(plan, cancellationToken),
                    FaultKind.FullDisk => await FillDiskAsync(plan, cancellationToken),
                    FaultKind.CorruptCheckpoint => await CorruptAsync(plan, cancellationToken),
                    _ => throw new UnreachableException(),
                };
                if (detail is null)
                {
                    _progress($"{kind}: nothing to inject it into (no trial in the state it needs) before the sweep ended");
                    continue;
                }
                _faults.Add(new InjectedFault(kind, at, detail));
                _progress($"{kind}: {detail}");
            }
            finally
            {
                _silos.Release();
            }
        }
    }

    private async Task<string> KillAsync(CancellationToken cancellationToken)
    {
        var silos = _cluster.Silos;
        var index = _random.Next(silos.Count);
        var victim = silos[index];
        var held = (await RunningTrialsAsync()).Count(t => Holds(victim, t.Snapshot));
        victim.Kill();
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        var clock = Stopwatch.StartNew();
        await _cluster.Restart(index, cancellationToken);
        return $"silo on port {victim.SiloPort} killed while it held {held} trial(s); healthy again {clock.Elapsed.TotalSeconds:F0} s later";
    }

    /// <summary>
    /// Stops a silo that holds a running trial, keeps it stopped until each of its trials has moved to a new attempt
    /// (or long past the lease), lets it go on, then reads in the silos' logs what became of its stale attempts' calls.
    /// </summary>
    private async Task<string?> ZombieAsync(ChaosPlan plan, CancellationToken cancellationToken)
    {
        var (index, trials) = await SiloHoldingTrialsAsync(cancellationToken);
        if (index < 0) return null;
        var zombie = _cluster.Silos[index];
        zombie.Freeze();
        var stopped = Stopwatch.StartNew();
        var held = trials.Select(t => (Trial: t.Definition!.Key, Attempt: t.Attempts)).ToList();
        var checkpointsHeld = trials.ToDictionary(t => t.Definition!.Key, t => t.Checkpoint);
        // Long enough for the lease to run out and a lease check to see it, even for a trial whose grain froze with the silo.
        var least = plan.Lease * 2 + TimeSpan.FromSeconds(2);
        var limit = plan.Lease * 3 + TimeSpan.FromSeconds(60);
        var movedOn = new List<string>();
        while (stopped.Elapsed < limit)
        {
            movedOn.Clear();
            foreach (var (trial, attempt) in held)
            {
                var (sweepId, trialId) = TrialKeys.Parse(trial);
                // Re-queued or taken by a new attempt: either way the grain no longer takes the zombie's attempt for the trial's.
                if (await TryAsync(_cluster.Grains.GetGrain<ITrialGrain>(TrialKeys.Format(sweepId, trialId)).GetAsync()) is { } now
                    && (now.Attempts > attempt || now.Status != TrialStatus.Running))
                    movedOn.Add(trial);
            }
            // A trial whose grain froze with the zombie moves only once the cluster declares the zombie dead, which on a
            // starved machine takes a minute or more; one trial taken from it is enough to see its stale calls refused.
            if (movedOn.Count > 0 && stopped.Elapsed > least) break;
            await Task.Delay(PollInterval, cancellationToken);
        }
        var stoppedFor = stopped.Elapsed;
        zombie.Thaw();
        // Its heartbeat comes within a second of waking, and its training thread's next report soon after.
        await Task.Delay(plan.Lease + TimeSpan.FromSeconds(5), cancellationToken);
        var exited = zombie.HasExited;
        if (exited) await _cluster.Restart(index, cancellationToken);

        var refused = new Dictionary<string, int>();
        foreach (var line in _cluster.Silos.SelectMany(s => ReadLog(s.LogPath)))
        {
            if (Refusal().Match(line) is not { Success: true } match) continue;
            var attempt = int.Parse(match.Groups["attempt"].Value, CultureInfo.InvariantCulture);
            if (!held.Contains((match.Groups["trial"].Value, attempt))) continue;
            var call = match.Groups["call"].Value;
            refused[call] = refused.GetValueOrDefault(call) + 1;
        }
        var intact = true;
        foreach (var trial in movedOn)
        {
            var (sweepId, trialId) = TrialKeys.Parse(trial);
            var attempt = held.Single(h => h.Trial == trial).Attempt;
            if (await TryAsync(_cluster.Grains.GetGrain<ITrialGrain>(TrialKeys.Format(sweepId, trialId)).GetAsync()) is not { } now || now.Checkpoint is not { } checkpoint)
                continue;
            // The trial resumes from the checkpoint it had when the zombie stopped, or from a successor's; never from one
            // the zombie wrote after it lost the trial, and the one it resumes from is still on disk.
            var zombies = Path.GetFileName(checkpoint).StartsWith($"a{attempt}-", StringComparison.Ordinal);
            if (zombies && checkpoint != checkpointsHeld[trial] || now.Status != TrialStatus.Completed && !Directory.Exists(checkpoint)) intact = false;
        }
        _zombies.Add(new ZombieEvidence(held, [.. movedOn], refused, exited, intact));
        return $"silo on port {zombie.SiloPort} stopped {stoppedFor.TotalSeconds:F0} s (lease {plan.Lease.TotalSeconds:F0} s) holding {held.Count} trial(s), " +
               $"{movedOn.Count} taken from it meanwhile (re-queued or resumed elsewhere); {refused.Values.Sum()} late call(s) of its stale attempts refused " +
               $"({(refused.Count == 0 ? "none" : string.Join(", ", refused.Select(r => $"{r.Key} ×{r.Value}")))}); " +
               $"successors' checkpoints {(intact ? "intact" : "TOUCHED")}; " +
               (exited ? "it exited on waking (the cluster had declared it dead) and was started again" : "it went on as a member of the cluster");
    }

    private async Task<string> RestartPostgresAsync(ChaosPlan plan, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await plan.RestartPostgres(cancellationToken);
        return $"restarted in {clock.Elapsed.TotalSeconds:F1} s";
    }

    /// <summary>A 64 KiB tmpfs, filled, over the checkpoint directory: every write there fails with "no space left on device".</summary>
    private async Task<string> FillDiskAsync(ChaosPlan plan, CancellationToken cancellationToken)
    {
        var root = plan.CheckpointRoot;
        var refusedBefore = CountLogLines(CheckpointRefused());
        var failedBefore = CountLogLines(AttemptFailed());
        await PrivatePostgres.RunAsync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", root], cancellationToken);
        try
        {
            try
            {
                await using var filler = new FileStream(Path.Combine(root, ".full"), FileMode.Create);
                var block = new byte[4096];
                while (true) filler.Write(block);
            }
            catch (IOException)
            {
                // Full.
            }
            await Task.Delay(plan.FullDiskFor, cancellationToken);
        }
        finally
        {
            await UnmountAsync(root);
        }
        return $"{root} full for {plan.FullDiskFor.TotalSeconds:F0} s: {CountLogLines(CheckpointRefused()) - refusedBefore} checkpoint(s) refused and skipped, " +
               $"{CountLogLines(AttemptFailed()) - failedBefore} attempt(s) failed (their model could not be saved) and retried";
    }

    /// <summary>A silo may still hold a file open there for a moment; a lazy unmount detaches it at once all the same.</summary>
    private static async Task UnmountAsync(string root)
    {
        for (var i = 0; i < 10; i++)
        {
            try
            {
                await PrivatePostgres.RunAsync("umount", [root], CancellationToken.None);
                return;
            }
            catch (InvalidOperationException)
            {
                await Task.Delay(500);
            }
        }
        await PrivatePostgres.RunAsync("umount", ["-l", root], CancellationToken.None);
    }

    /// <summary>
    /// Truncates the latest checkpoint of a running trial and kills its silo at once, so that its next attempt must
    /// resume from it; waits until that attempt has found it unreadable and the trial has dropped it.
    /// </summary>
    private async Task<string?> CorruptAsync(ChaosPlan plan, CancellationToken cancellationToken)
    {
        for (var tries = 0; tries < 5 && !_sweepEnded; tries++)
        {
            var candidates = (await RunningTrialsAsync())
                .Where(t => t.Snapshot.Checkpoint is { } c && Directory.Exists(c) && _cluster.Silos.Any(s => Holds(s, t.Snapshot)))
                .ToList();
            if (candidates.Count == 0)
            {
                await Task.Delay(PollInterval, cancellationToken);
                continue;
            }
            var (trialId, snapshot) = candidates[_random.Next(candidates.Count)];
            var index = _cluster.Silos.ToList().FindIndex(s => Holds(s, snapshot));
            var checkpoint = snapshot.Checkpoint!;
            foreach (var file in Directory.GetFiles(checkpoint))
            {
                await using var stream = new FileStream(file, FileMode.Open, FileAccess.Write);
                stream.SetLength(stream.Length / 2);
            }
            var silo = _cluster.Silos[index];
            silo.Kill();
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            await _cluster.Restart(index, cancellationToken);
            var deadline = DateTime.UtcNow + plan.Lease * 3 + TimeSpan.FromSeconds(60);
            while (DateTime.UtcNow < deadline)
            {
                if (await TryAsync(Trial(trialId).GetAsync()) is { } now)
                {
                    if (now.CheckpointsDropped > snapshot.CheckpointsDropped)
                        return $"trial {trialId}'s checkpoint {Path.GetFileName(checkpoint)} (step {snapshot.CheckpointStep}) truncated and silo on port {silo.SiloPort} killed; " +
                               "the next attempt could not load it, and the trial dropped it and started again from step 0";
                    // A newer checkpoint was written between the truncation and the kill: the resume never read the corrupt one.
                    if (now.Checkpoint != checkpoint && now.Attempts > snapshot.Attempts && now.Status == TrialStatus.Running && now.ResumedFromStep is not null) break;
                    if (now.Status.IsFinal()) break;
                }
                await Task.Delay(PollInterval, cancellationToken);
            }
            _progress($"{FaultKind.CorruptCheckpoint}: trial {trialId} did not resume from the truncated checkpoint; trying another");
        }
        return null;
    }

    /// <summary>Each running trial of the sweep with its grain's snapshot.</summary>
    private async Task<List<(string TrialId, TrialSnapshot Snapshot)>> RunningTrialsAsync()
    {
        var running = new List<(string, TrialSnapshot)>();
        if (await TryAsync(Sweep.GetAsync()) is not { } sweep) return running;
        foreach (var trial in sweep.Trials.Where(t => t.Status == TrialStatus.Running))
            if (await TryAsync(Trial(trial.TrialId).GetAsync()) is { Status: TrialStatus.Running } snapshot)
                running.Add((trial.TrialId, snapshot));
        return running;
    }

    /// <summary>
    /// A silo that holds a running trial past its first step, and the trials it holds; index -1 when none does before
    /// the sweep ends. The trial's grain must live on another silo: one that froze with the zombie could not take the
    /// trial from it until the cluster declared the zombie dead, and a silo declared dead stops when it wakes.
    /// </summary>
    private async Task<(int Index, List<TrialSnapshot> Trials)> SiloHoldingTrialsAsync(CancellationToken cancellationToken)
    {
        var management = _cluster.Grains.GetGrain<IManagementGrain>(0);
        while (!_sweepEnded)
        {
            var running = await RunningTrialsAsync();
            var grainPorts = new Dictionary<string, int?>();
            foreach (var (trialId, _) in running)
            {
                try
                {
                    grainPorts[trialId] = (await management.GetActivationAddress(Trial(trialId), cancellationToken).AsTask().WaitAsync(CallLimit, cancellationToken))?.Endpoint.Port;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    grainPorts[trialId] = null;
                }
            }
            var silos = _cluster.Silos;
            var holding = Enumerable.Range(0, silos.Count)
                .Select(i => (Index: i, Trials: running.Where(r => Holds(silos[i], r.Snapshot)).ToList()))
                .Where(h => h.Trials.Any(t => t.Snapshot.Progress is { Step: > 0 } && grainPorts[t.TrialId] is { } port && port != silos[h.Index].SiloPort))
                .Select(h => (h.Index, Trials: h.Trials.Select(t => t.Snapshot).ToList()))
                .ToList();
            if (holding.Count > 0)
            {
                var (index, trials) = holding[_random.Next(holding.Count)];
                return (index, trials);
            }
            await Task.Delay(PollInterval, cancellationToken);
        }
        return (-1, []);
    }

    // A trial's grain names its silo as "{address}:{port} {slot}".
    private static bool Holds(SiloProcess silo, TrialSnapshot trial) => trial.Silo?.Contains($":{silo.SiloPort} ", StringComparison.Ordinal) == true;

    private int CountLogLines(Regex pattern) => _cluster.Silos.Sum(s => ReadLog(s.LogPath).Count(l => pattern.IsMatch(l)));

    private static IEnumerable<string> ReadLog(string path)
    {
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        while (reader.ReadLine() is { } line) yield return line;
    }

    /// <summary>After the sweep: every trial's end as its grain has it, and the leaderboard.</summary>
    private async Task<ChaosResult> CountAsync(TimeSpan wall)
    {
        var sweep = await Retry(() => Sweep.GetAsync());
        var lost = new List<string>();
        var extraAttempts = 0;
        var dropped = 0;
        var outcomes = new Dictionary<string, TrialOutcome?>();
        foreach (var trial in sweep.Trials)
        {
            var snapshot = await Retry(() => Trial(trial.TrialId).GetAsync());
            outcomes[trial.TrialId] = snapshot.Outcome;
            if (snapshot.Status != TrialStatus.Completed) lost.Add($"{trial.TrialId} ({snapshot.Status} after {snapshot.Attempts} attempt(s): {snapshot.Error ?? "no error"})");
            if (snapshot.ResumedFromStep is not null) _resumed.Add(trial.TrialId);
            extraAttempts += Math.Max(0, snapshot.Attempts - 1);
            dropped += snapshot.CheckpointsDropped;
        }
        var entries = await Retry(() => _cluster.Grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).TopAsync(_sweepId, 100_000));
        var duplicated = entries.GroupBy(e => e.TrialId).Where(g => g.Count() > 1).Select(g => $"{g.Key} ×{g.Count()}").ToList();
        // A completed trial missing from the board is lost as well: its result is nowhere a user looks.
        lost.AddRange(sweep.Trials.Where(t => t.Status == TrialStatus.Completed && entries.All(e => e.TrialId != t.TrialId)).Select(t => $"{t.TrialId} (not on the leaderboard)"));
        var staleModels = entries
            .Where(e => e.Model != outcomes.GetValueOrDefault(e.TrialId)?.Model || e.Model is not null && !Directory.Exists(e.Model))
            .Select(e => $"{e.TrialId}: {e.Model ?? "no model"} (the trial's: {outcomes.GetValueOrDefault(e.TrialId)?.Model ?? "none"})")
            .ToList();
        return new ChaosResult(wall, [.. _faults], sweep.Trials.Count, sweep.Count(TrialStatus.Completed), lost, duplicated, [.. _resumed.Order()],
            _stepsRedone, extraAttempts, dropped, CountLogLines(CheckpointRefused()), [.. _zombies], [.. _unexpectedExits],
            [.. _cluster.Silos.SelectMany(s => ReadLog(s.LogPath)).Select(l => AttemptFailure().Match(l)).Where(m => m.Success).Select(m => m.Groups["error"].Value)],
            staleModels);
    }

    private static async Task<T> Retry<T>(Func<Task<T>> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call().WaitAsync(CallLimit);
            }
            catch (Exception e) when (attempt < 30 && e is not OperationCanceledException)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }
    }

    // TrialGrain: "Trial s/t001: Heartbeat of attempt 2 refused; the trial is Running at attempt 3".
    [GeneratedRegex(@"Trial (?<trial>\S+): (?<call>\w+) of attempt (?<attempt>\d+) refused")]
    private static partial Regex Refusal();

    // TrialSession: "Checkpoint at step 6 not written to ...".
    [GeneratedRegex(@"Checkpoint at step \d+ not written")]
    private static partial Regex CheckpointRefused();

    // TrialGrain: "Trial s/t001 failed (attempt 1 of 4): No space left on device : '...'".
    [GeneratedRegex(@"Trial \S+ failed \(attempt \d+ of \d+\): (?<error>.*)$")]
    private static partial Regex AttemptFailure();

    // SlotWorkers: "Slot cpu:0: trial s/t001 failed".
    [GeneratedRegex(@"Slot \S+: trial \S+ failed")]
    private static partial Regex AttemptFailed();
}
