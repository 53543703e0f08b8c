using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using ExperimentGrid.Contracts;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.GridBenchmarks;

/// <summary>The results as Markdown, ready to paste into the README, with the facts needed to compare runs.</summary>
public static class Report
{
    /// <summary>Cores busy outside the silos above which another job took CPU from them; PostgreSQL and the client alone take about a tenth of one.</summary>
    private const double SharedCpuThreshold = 0.3;

    public static string Render(BenchmarkSettings settings, string command, string server, IReadOnlyList<RunResult> results,
        LoadAverage? loadBefore, LoadAverage? loadAfter, TimeSpan total)
    {
        var workload = settings.Workload;
        var cores = Environment.ProcessorCount;
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');

        Preamble(Line, "## ExperimentGrid grid scheduling benchmark", command, server);
        Line($"- Silos: each its own process, `dotnet ExperimentGrid.Silo.dll --postgres ... --address 127.0.0.1 --slots cpu:1`, with " +
             $"{workload.ThreadsPerSilo} libtorch intra-op thread{(workload.ThreadsPerSilo == 1 ? "" : "s")} (OMP_NUM_THREADS and MKL_NUM_THREADS = {workload.ThreadsPerSilo}). " +
             "Each silo count runs on a new cluster and a new, empty database.");
        Line($"- Sweep: {workload.Trials} trials (seeds 1 to {workload.Trials}) fine-tuning MiniLM for text classification on {Workload.Dataset}: " +
             $"{workload.TrainLimit} training examples, max_length {Workload.MaxLength}, batch {Workload.BatchSize}, 1 epoch, {Workload.EvalLimit} evaluated, " +
             "no test split, one checkpoint at the epoch's end, no retries.");
        Line($"- Load average (1, 5, 15 min): {loadBefore?.ToString() ?? "unknown"} before, {loadAfter?.ToString() ?? "unknown"} after (the benchmark's own silos count in that). " +
             $"The whole benchmark took {total.TotalMinutes:F1} min.");
        // The load average lags by minutes (a run just before this one still shows in it); CPU time used during each sweep does not.
        foreach (var r in results.Where(r => r.Cpu.Elsewhere > SharedCpuThreshold))
            Line($"- **Another job shared the CPU** during the sweep on {r.Silos} silo{(r.Silos == 1 ? "" : "s")}: " +
                 $"{r.Cpu.Elsewhere:F2} cores were busy outside the silos. Its row is not a clean measurement.");
        Line($"- OS: {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture}); {RuntimeInformation.FrameworkDescription}");
        Line();
        Line("| Silos (slots) | Silos healthy after | Sweep wall | Σ trial time | Trial time, mean (min–max) | Σ trial time / wall | Wall speed-up over 1 silo | Idle slot time per trial | CPU: silos / elsewhere |");
        Line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var single = results.FirstOrDefault(r => r.Silos == 1);
        foreach (var r in results)
        {
            var seconds = r.Trials.Select(t => t.Seconds).ToList();
            var speedUp = single is null ? "–" : $"{single.Wall.TotalSeconds / r.Wall.TotalSeconds:F2}×";
            Line($"| {r.Silos} ({r.Slots}) | {r.Healthy.TotalSeconds:F1} s | {r.Wall.TotalSeconds:F1} s | {r.TrialSeconds:F1} s | " +
                 $"{seconds.Average():F2} s ({seconds.Min():F2}–{seconds.Max():F2}) | {r.Parallelism:F2} | {speedUp} | {r.IdleSlotSecondsPerTrial:F2} s | " +
                 $"{r.Cpu.Silos:F2} / {(r.Cpu.Elsewhere is { } elsewhere ? $"{elsewhere:F2}" : "unknown")} cores |");
        }
        Line();
        foreach (var r in results)
        {
            var retried = r.Trials.Where(t => t.Attempts > 1).Select(t => $"{t.TrialId} ({t.Attempts} attempts)").ToList();
            Line($"- {r.Silos} silo{(r.Silos == 1 ? "" : "s")}: trials started per silo {string.Join(", ", r.TrialStarts)}; " +
                 $"{(retried.Count == 0 ? "every trial ran once" : $"ran again: {string.Join(", ", retried)}")}; " +
                 $"warnings or errors the silos logged during the sweep: {string.Join(", ", r.Warnings)}.");
        }
        Line();
        Line("*Trial time* is `TrialOutcome.Seconds`: how long the trial's last attempt held its slot, from claiming the trial to its " +
             "final evaluation (model load, training, evaluation and the checkpoint write). *Sweep wall* runs from `ISweepGrain.SubmitAsync` " +
             string.Create(CultureInfo.InvariantCulture, $"until the first poll (every {Cluster.PollInterval.TotalMilliseconds:F0} ms) that finds the sweep finished. ") +
             "*Idle slot time per trial* = (S × sweep wall − Σ trial time) / trials, with S slots (one per silo): slot time not spent on a trial. " +
             "With one silo it is the grid's own cost per trial: expanding the spec, queueing, the slot's claims (an idle slot asks the " +
             "queue once a second, so the first trial can wait up to 1 s), grain calls, state writes in PostgreSQL, the leaderboard record " +
             "and the sweep's completion, and up to one poll interval of this benchmark. With more silos it also counts slots left waiting " +
             "while the last trials finish. Silos that share too few cores make every trial slower: that shows in the trial time, " +
             "and in the wall speed-up, not in the idle time. *CPU* is the cores busy on average during the sweep (from /proc/stat and each " +
             "silo's CPU time): in the silo processes, and elsewhere on the machine, which is PostgreSQL serving the grid, this " +
             $"benchmark's client, and any other job. More than {SharedCpuThreshold:F1} cores elsewhere means another job shared the CPU.");
        return text.ToString();
    }

    public static string RenderFake(string command, string server, FakeResult result, LoadAverage? loadBefore, LoadAverage? loadAfter, TimeSpan total)
    {
        var workload = result.Workload;
        var trials = result.Trials.Count;
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');
        string Ms(TimeSpan time) => $"{time.TotalMilliseconds:F0} ms";
        string PerTrial(double count) => $"{count / trials:F2}";

        Preamble(Line, "## ExperimentGrid grid scheduling benchmark: fake trainables", command, server);
        Line($"- Silos: {workload.Silos} processes, `dotnet ExperimentGrid.FakeSilo.dll --postgres ... --address 127.0.0.1 --slots cpu:1`: the real silo " +
             $"(same flags, grains, storage and slots) whose trainable is `FakeTrainable`, {FakeWorkload.StepsPerEpoch} optimizer steps of " +
             $"{FakeWorkload.StepMilliseconds} ms an epoch. A new cluster on a new, empty database.");
        Line($"- Sweep: random search of {trials} trials (learning_rate log-uniform in [1e-5, 1e-3), batch_size one of 8, 16, 32, 64, weight_decay " +
             "uniform in [0, 0.1)), 1 epoch, no test split, one checkpoint at the epoch's end, no retries. The sweep keeps a few trials queued ahead of the free slots.");
        Line($"- Load average (1, 5, 15 min): {loadBefore?.ToString() ?? "unknown"} before, {loadAfter?.ToString() ?? "unknown"} after. The whole benchmark took {total.TotalMinutes:F1} min.");
        Line($"- OS: {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture}); {RuntimeInformation.FrameworkDescription}");
        Line();
        var seconds = result.Trials.Select(t => t.Seconds * 1000).ToList();
        var sweep = result.Sweep;
        Line("| Silos (slots) | Silos healthy after | `SubmitAsync` | Sweep wall | Trials/s | Σ trial time | Trial time, mean (min–max) | **Overhead per trial** | CPU: silos / elsewhere |");
        Line("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        Line($"| {workload.Silos} ({workload.Slots}) | {result.Healthy.TotalSeconds:F1} s | {Ms(sweep.Submit)} | {sweep.Wall.TotalSeconds:F1} s | {result.TrialsPerSecond:F1} | " +
             $"{result.TrialSeconds:F1} s | {seconds.Average():F1} ms ({seconds.Min():F1}–{seconds.Max():F1}) | **{result.OverheadSecondsPerTrial * 1000:F0} ms** | " +
             $"{sweep.Cpu.Silos:F2} / {(sweep.Cpu.Elsewhere is { } elsewhere ? $"{elsewhere:F2}" : "unknown")} cores |");
        Line();
        var retried = result.Trials.Where(t => t.Attempts > 1).Select(t => $"{t.TrialId} ({t.Attempts} attempts)").ToList();
        Line($"- Trials started per silo: {string.Join(", ", result.TrialStarts)}; {(retried.Count == 0 ? "every trial ran once" : $"ran again: {string.Join(", ", retried)}")}; " +
             $"warnings or errors the silos logged during the sweep: {string.Join(", ", result.Warnings)}.");
        Line($"- PostgreSQL transactions during the sweep: {result.Transactions} ({PerTrial(result.Transactions)} per trial).");
        Line();
        Line("Grain state written during the sweep (each write adds one to its row's version):");
        Line();
        Line("| Grain state | Grains | Writes | Writes per trial | Stored bytes at the end |");
        Line("|---|---:|---:|---:|---:|");
        foreach (var state in result.StateWrites)
            Line($"| {state.State} | {state.Grains} | {state.Writes} | {PerTrial(state.Writes)} | {state.Bytes:N0} |");
        Line();
        Line("Time the silos spent writing grain state during the sweep (Orleans' `orleans-storage-write-latency`):");
        Line();
        Line("| Grain state | Writes | Mean write | Write time per trial |");
        Line("|---|---:|---:|---:|");
        foreach (var write in result.StateWriteTimes)
            Line($"| {write.Name} | {write.Count} | {write.MeanMilliseconds:F2} ms | {write.TotalMilliseconds / trials:F2} ms |");
        Line();
        Line("Grain calls the silos made during the sweep, slowest in all first (timed by the fake silo from call to answer; a call's time holds the calls it makes):");
        Line();
        Line("| Call | Calls | Calls per trial | Mean | Time per trial |");
        Line("|---|---:|---:|---:|---:|");
        foreach (var call in result.GrainCalls)
            Line($"| `{call.Name}` | {call.Count} | {PerTrial(call.Count)} | {call.MeanMilliseconds:F2} ms | {call.TotalMilliseconds / trials:F2} ms |");
        Line();
        Line("Rows PostgreSQL counted written during the sweep (`pg_stat_user_tables`):");
        Line();
        Line("| Table | Inserted | Updated | Deleted | Rows written per trial |");
        Line("|---|---:|---:|---:|---:|");
        foreach (var table in result.TableWrites)
            Line($"| {table.Table} | {table.Inserted} | {table.Updated} | {table.Deleted} | {PerTrial(table.Inserted + table.Updated + table.Deleted)} |");
        Line();
        var grid = result.Grid;
        Line($"A {grid.Points:N0}-point grid (5 fields × 10 values: `SweepSpecs.HundredThousandPoints`), submitted to the same cluster after the random search: " +
             $"accepted in **{Ms(grid.Accept)}** (`SubmitAsync`); its first trial had started {Ms(grid.FirstTrialStarted)} after the submission; its stored state was " +
             $"{grid.StoredBytes:N0} bytes then; `CancelAsync` took {Ms(grid.Cancel)}, leaving it {grid.Status} with {grid.TrialsCreated} trials created.");
        Line();
        Line("*Trial time* is `TrialOutcome.Seconds`: how long the trial's attempt held its slot's session, from making the trainable to its result " +
             "(setup, training, the checkpoint and model writes). *Sweep wall* runs from `ISweepGrain.SubmitAsync` " +
             string.Create(CultureInfo.InvariantCulture, $"until the first poll (every {Cluster.PollInterval.TotalMilliseconds:F0} ms) that finds the sweep finished. ") +
             "*Overhead per trial* = (slots × sweep wall − Σ trial time) / trials: slot time not spent in a trial's session. It holds the slot's claim " +
             "from the queue, the trial grain's start, each report and the completion (grain calls and their state writes in PostgreSQL), the sweep " +
             "creating the next trial, the leaderboard record, and the slots' idle waits. *CPU elsewhere* is mostly PostgreSQL serving the grid.");
        Line();
        Line($"overhead: {result.OverheadSecondsPerTrial * 1000:F1} ms per trial over {trials} trials on {workload.Slots} slots");
        return text.ToString();
    }

    public static string RenderStress(string command, string server, StressWorkload workload, StressResult result, TimeSpan total)
    {
        var text = new StringBuilder();
        void Line(string line = "") => text.Append(line).Append('\n');

        Preamble(Line, "## ExperimentGrid stress run: silo crashes", command, server);
        var stress = (workload.Gen0Bytes is { } gen0 ? $", gen0 budget {gen0:N0} bytes" : "") + (workload.GcHammer ? ", with the GC hammer collecting in a loop" : "");
        Line($"- Silo: one process as deployed (server GC{stress}), `--slots cpu:{workload.Slots}`, " +
             "one libtorch thread per slot. A silo that dies ends its round; the next round starts a new silo on a new database with the trials still to run.");
        Line($"- Trials: MiniLM text classification on {Workload.Dataset}, {StressWorkload.TrainLimit} training examples, batch {StressWorkload.BatchSize}, " +
             $"max_length {StressWorkload.MaxLength}, 1 epoch, a checkpoint every {StressWorkload.CheckpointEvery} steps and at the epoch's end, " +
             $"{StressWorkload.EvalLimit} evaluated, the model saved. The whole run took {total.TotalMinutes:F1} min.");
        Line($"- OS: {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture}); {RuntimeInformation.FrameworkDescription}");
        Line();
        Line("| Trials completed | Trials failed | Silo processes | Crashes | Wall |");
        Line("|---:|---:|---:|---:|---:|");
        Line($"| {result.Completed} | {result.Failures.Count} | {result.SiloStarts} | {result.Crashes.Count} | {result.Wall.TotalMinutes:F1} min |");
        if (result.Failures.Count > 0)
        {
            Line();
            foreach (var failure in result.Failures) Line($"- Failed: {failure}");
        }
        if (result.Crashes.Count > 0)
        {
            Line();
            Line("| Crash | After trials | Kernel |");
            Line("|---|---:|---|");
            foreach (var crash in result.Crashes) Line($"| {crash.Signal} | {crash.CompletedBefore} | {crash.KernelLine ?? "none logged"} |");
        }
        Line();
        Line($"stress: {result.Completed} trials, {result.Crashes.Count} crashes, {result.Failures.Count} failed");
        return text.ToString();
    }

    /// <summary>What every report opens with: the title, the command that made them, the machine and the network.</summary>
    private static void Preamble(Action<string> line, string title, string command, string server)
    {
        line(title);
        line("");
        line("Measured with:");
        line("");
        line("```");
        line(command);
        line("```");
        line("");
        line($"- CPU: {Machine.CpuModel()}, {Environment.ProcessorCount} logical cores");
        line($"- Network: loopback only. The silos, this benchmark's Orleans client and PostgreSQL ({server}) all run on this machine and talk over 127.0.0.1.");
    }
}
