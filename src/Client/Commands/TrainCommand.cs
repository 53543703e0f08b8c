using System.CommandLine;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

internal static class TrainCommand
{
    /// <summary>The cache a silo on this machine uses by default, so `grid train` and the embedded grid share prefixes.</summary>
    private static Core.Caching.WorkCache MachineCache => new(Core.Caching.WorkCache.DefaultRoot, Core.Caching.WorkCache.DefaultMaxBytes);

    public static Command Build()
    {
        var trial = new TrialOptions();
        var output = new Option<DirectoryInfo?>("--out", "-o") { Description = "Where the trained model and metrics.json go. Default runs/<dataset>-<model>-freeze<k>-<time>." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout instead of tables." };
        var threads = CommandRunner.ThreadsOption();

        var command = new Command("train", "Fine-tune a model on a dataset (one trial) and save it as a Hugging Face model directory.") { output, json, threads };
        trial.AddTo(command);
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(loggers =>
        {
            var spec = trial.Read(parse, "train");
            var outDir = parse.GetValue(output)?.FullName ?? DefaultOutput(spec);
            var result = Run(spec, outDir, loggers.CreateLogger("train"), parse.GetValue(json), cancellation);
            if (parse.GetValue(json)) Console.Out.WriteLine(TrialRunner.ToJson(result));
            else Render(result);
            return Task.FromResult(0);
        }, parse.GetValue(threads)));
        return command;
    }

    private static string DefaultOutput(TrialSpec spec)
    {
        var model = Path.GetFileName(spec.Model.TrimEnd('/', '\\'));
        var dataset = Path.GetFileNameWithoutExtension(spec.Dataset.TrimEnd('/', '\\'));
        return Path.GetFullPath(Path.Combine("runs", $"{dataset}-{model}-freeze{spec.Freeze}-{DateTime.Now:yyyyMMdd-HHmmss}"));
    }

    private static TrialResult Run(TrialSpec spec, string outDir, ILogger logger, bool quiet, CancellationToken cancellation)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        if (quiet || !console.Profile.Capabilities.Interactive)
        {
            // No live bar without a terminal: a line every 50 steps keeps CI logs and pipes readable.
            var lines = new InlineProgress<TrainingProgress>(p =>
            {
                if (p.Step % 50 == 0 || p.Step == p.TotalSteps)
                    logger.LogInformation("epoch {Epoch}/{Epochs} step {Step}/{Total} loss {Loss:F4} lr {Lr:G3} {Samples:F1} samples/s {Tokens:F0} tokens/s",
                        p.Epoch, p.Epochs, p.Step, p.TotalSteps, p.Loss, p.LearningRate, p.SamplesPerSecond, p.TokensPerSecond);
            });
            return TrialRunner.Run(spec, outDir, logger, lines, MachineCache, cancellation);
        }

        TrialResult? result = null;
        var liveLogger = new ConsoleLogger(console);
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var bar = context.AddTask("setting up", maxValue: 1);
                var live = new InlineProgress<TrainingProgress>(p =>
                {
                    bar.MaxValue = p.TotalSteps;
                    bar.Value = p.Step;
                    bar.Description = $"epoch {p.Epoch}/{p.Epochs} step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} {p.SamplesPerSecond:F1} samples/s {p.TokensPerSecond:F0} tok/s";
                });
                result = TrialRunner.Run(spec, outDir, liveLogger, live, MachineCache, cancellation);
            });
        return result!;
    }

    private static void Render(TrialResult result)
    {
        var metrics = result.Epochs[0].Validation.Values().Select(v => EvaluationMetrics.Name(v.Metric));
        var epochs = new Table().Title($"Epochs ({result.Spec.EvalSplit})").AddColumns(["epoch", "train loss", .. metrics, "samples/s", "tokens/s", "seconds"]);
        foreach (var e in result.Epochs)
            epochs.AddRow([$"{e.Epoch}", $"{e.TrainLoss:F4}", .. e.Validation.Values().Select(v => $"{v.Value:F4}"),
                $"{e.SamplesPerSecond:F1}", $"{e.TokensPerSecond:F0}", $"{e.TrainSeconds:F1}"]);
        AnsiConsole.Write(epochs);

        var summary = MetricsTable(result.Final, result.Test is null ? result.Spec.EvalSplit : result.Spec.TestSplit!);
        summary.AddRow("freeze", result.Spec.Freeze.ToString());
        summary.AddRow("trainable parameters", $"{result.TrainableParameters:N0} of {result.TotalParameters:N0}");
        summary.AddRow("batch", result.MicroBatchSize < result.Spec.BatchSize
            ? $"{result.Spec.BatchSize}, in micro-batches of {result.MicroBatchSize}"
            : $"{result.Spec.BatchSize}");
        summary.AddRow("training throughput", $"{result.SamplesPerSecond:F1} samples/s, {result.TokensPerSecond:F0} tokens/s");
        summary.AddRow("wall time", $"{result.WallSeconds:F1} s on {result.Device} in {EnumNames.Name(result.Spec.Precision)}");
        summary.AddRow("model", Markup.Escape(result.ModelDirectory ?? "(not saved)"));
        AnsiConsole.Write(summary);
    }

    /// <summary>One row per metric the task reports, headline first.</summary>
    public static Table MetricsTable(EvaluationMetrics metrics, string split)
    {
        var table = new Table().Title("Result").AddColumns("metric", "value");
        foreach (var value in metrics.Values()) table.AddRow($"{split} {EvaluationMetrics.Name(value.Metric)}", $"{value.Value:F4}");
        return table;
    }

    /// <summary>Reports on the training thread itself: Progress&lt;T&gt; would post to the thread pool and lag the bar.</summary>
    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
