using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using ExperimentGrid.Contracts;

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

        Line("## ExperimentGrid grid scheduling benchmark");
        Line();
        Line("Measured with:");
        Line();
        Line("```");
        Line(command);
        Line("```");
        Line();
        Line($"- CPU: {Machine.CpuModel()}, {cores} logical cores");
        Line($"- Network: loopback only. The silos, this benchmark's Orleans client and PostgreSQL ({server}) all run on this machine and talk over 127.0.0.1.");
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
             string.Create(CultureInfo.InvariantCulture, $"until the first poll (every {GridRun.PollInterval.TotalMilliseconds:F0} ms) that finds the sweep finished. ") +
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
}
