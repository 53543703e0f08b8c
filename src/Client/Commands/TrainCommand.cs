using System.CommandLine;
using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

internal static class TrainCommand
{
    public static Command Build()
    {
        var config = new Option<FileInfo?>("--config") { Description = "A YAML or JSON trial file with the same keys as the flags (snake_case); flags override it." };
        var task = new Option<string?>("--task") { Description = $"The task: {string.Join(", ", TaskKinds.Names)}. Default text-classification." };
        var model = new Option<string?>("--model", "-m") { Description = $"A bundled model ({string.Join(", ", BundledModels.All.Select(m => m.Name))}) or a Hugging Face model directory. Default {BundledModels.Default}." };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "A dataset name under the data root (rotten_tomatoes, conll2003, wnut17), a directory of split files, or one file. Default rotten_tomatoes." };
        var dataRoot = new Option<string?>("--data-root") { Description = "Where dataset names resolve. Default $EXPERIMENTGRID_DATA, else ../shared/datasets beside the repository." };
        var textColumn = new Option<string?>("--text-column") { Description = "Field holding the text. Default text." };
        var labelColumn = new Option<string?>("--label-column") { Description = "Field holding the integer class id. Default label." };
        var trainSplit = new Option<string?>("--train-split") { Description = "Default train." };
        var evalSplit = new Option<string?>("--eval-split") { Description = "Evaluated after every epoch. Default validation." };
        var testSplit = new Option<string?>("--test-split") { Description = "Evaluated once at the end ('none' to skip). Default test." };
        var trainLimit = new Option<int?>("--train-limit") { Description = "Train on a seeded random slice of this many examples." };
        var evalLimit = new Option<int?>("--eval-limit") { Description = "Evaluate on a seeded random slice of this many examples." };
        var labelNames = new Option<string?>("--label-names") { Description = "Comma-separated class names by id, e.g. neg,pos (token classification: IOB2 tags, default taken from the data); saved as id2label." };
        var epochs = new Option<int?>("--epochs", "-e") { Description = "Default 1." };
        var learningRate = new Option<double?>("--learning-rate", "--lr") { Description = "Peak AdamW learning rate. Default 2e-5." };
        var batchSize = new Option<int?>("--batch-size", "-b") { Description = "Default 16." };
        var evalBatchSize = new Option<int?>("--eval-batch-size") { Description = "Default 64." };
        var weightDecay = new Option<double?>("--weight-decay") { Description = "AdamW weight decay, not applied to biases and LayerNorm weights. Default 0.01." };
        var warmupRatio = new Option<double?>("--warmup-ratio") { Description = "Fraction of steps with a linear warm-up before the linear decay. Default 0." };
        var maxGradNorm = new Option<double?>("--max-grad-norm") { Description = "Gradient clipping norm. Default 1.0." };
        var seed = new Option<int?>("--seed") { Description = "Fixes the head's initialisation, dropout, shuffling and slices. Default 42." };
        var maxLength = new Option<int?>("--max-length") { Description = "Truncate texts to this many tokens, [CLS] and [SEP] included. Default 512." };
        var freeze = new Option<string?>("--freeze") { Description = "Freeze the embeddings and the bottom k encoder layers (k), or everything but the head (all). Default 0." };
        var device = new Option<string?>("--device") { Description = "auto, cpu, cuda or cuda:N. Default auto." };
        var output = new Option<DirectoryInfo?>("--out", "-o") { Description = "Where the trained model and metrics.json go. Default runs/<dataset>-<model>-freeze<k>-<time>." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout instead of tables." };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for TorchSharp. Default: all cores." };

        var command = new Command("train", "Fine-tune a model on a dataset (one trial) and save it as a Hugging Face model directory.")
        {
            config, task, model, dataset, dataRoot, textColumn, labelColumn, trainSplit, evalSplit, testSplit, trainLimit, evalLimit,
            labelNames, epochs, learningRate, batchSize, evalBatchSize, weightDecay, warmupRatio, maxGradNorm, seed, maxLength,
            freeze, device, output, json, threads,
        };
        command.SetAction((parse, cancellation) => CommandRunner.RunAsync(loggers =>
        {
            var configPath = parse.GetValue(config);
            var fromFile = configPath is null ? new TrialConfig() : TrialConfig.Load(configPath.FullName);
            var flags = new TrialConfig
            {
                Task = parse.GetValue(task),
                Model = parse.GetValue(model),
                Dataset = parse.GetValue(dataset),
                DataRoot = parse.GetValue(dataRoot),
                TextColumn = parse.GetValue(textColumn),
                LabelColumn = parse.GetValue(labelColumn),
                TrainSplit = parse.GetValue(trainSplit),
                EvalSplit = parse.GetValue(evalSplit),
                TestSplit = parse.GetValue(testSplit),
                TrainLimit = parse.GetValue(trainLimit),
                EvalLimit = parse.GetValue(evalLimit),
                LabelNames = parse.GetValue(labelNames)?.Split(',', StringSplitOptions.TrimEntries).ToList(),
                Epochs = parse.GetValue(epochs),
                LearningRate = parse.GetValue(learningRate),
                BatchSize = parse.GetValue(batchSize),
                EvalBatchSize = parse.GetValue(evalBatchSize),
                WeightDecay = parse.GetValue(weightDecay),
                WarmupRatio = parse.GetValue(warmupRatio),
                MaxGradNorm = parse.GetValue(maxGradNorm),
                Seed = parse.GetValue(seed),
                MaxLength = parse.GetValue(maxLength),
                Freeze = parse.GetValue(freeze),
                Device = parse.GetValue(device),
            };
            var spec = fromFile.Overlay(flags).ToSpec(configPath?.FullName ?? "train");
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
            return TrialRunner.Run(spec, outDir, logger, lines, cancellation);
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
                result = TrialRunner.Run(spec, outDir, liveLogger, live, cancellation);
            });
        return result!;
    }

    private static void Render(TrialResult result)
    {
        var metrics = result.Epochs[0].Validation.Values().Select(v => v.Metric).ToList();
        var epochs = new Table().Title("Epochs").AddColumns(["epoch", "train loss", .. metrics.Select(m => $"{result.Spec.EvalSplit} {TrialRunner.Name(m)}"), "samples/s", "tokens/s", "seconds"]);
        foreach (var e in result.Epochs)
            epochs.AddRow([$"{e.Epoch}", $"{e.TrainLoss:F4}", .. e.Validation.Values().Select(v => $"{v.Value:F4}"),
                $"{e.SamplesPerSecond:F1}", $"{e.TokensPerSecond:F0}", $"{e.TrainSeconds:F1}"]);
        AnsiConsole.Write(epochs);

        var summary = new Table().Title("Result").AddColumns("metric", "value");
        var split = result.Test is null ? result.Spec.EvalSplit : result.Spec.TestSplit;
        foreach (var value in result.Final.Values()) summary.AddRow($"{split} {TrialRunner.Name(value.Metric)}", $"{value.Value:F4}");
        summary.AddRow("freeze", result.Spec.Freeze.ToString());
        summary.AddRow("trainable parameters", $"{result.TrainableParameters:N0} of {result.TotalParameters:N0}");
        summary.AddRow("training throughput", $"{result.SamplesPerSecond:F1} samples/s, {result.TokensPerSecond:F0} tokens/s");
        summary.AddRow("wall time", $"{result.WallSeconds:F1} s on {result.Device}");
        summary.AddRow("model", Markup.Escape(result.ModelDirectory ?? "(not saved)"));
        AnsiConsole.Write(summary);
    }

    /// <summary>Reports on the training thread itself: Progress&lt;T&gt; would post to the thread pool and lag the bar.</summary>
    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
