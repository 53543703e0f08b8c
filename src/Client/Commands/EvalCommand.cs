using System.CommandLine;
using ExperimentGrid.Core.Training;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

/// <summary>`grid eval`: a model's metrics on one split, with the same trial flags as train and no training.</summary>
internal static class EvalCommand
{
    public static Command Build()
    {
        var trial = new TrialOptions();
        var split = new Option<string>("--split") { Description = "The split to measure. Default test.", DefaultValueFactory = _ => "test" };
        var json = new Option<bool>("--json") { Description = "Print the metrics as JSON on stdout instead of a table." };
        var threads = CommandRunner.ThreadsOption();
        var command = new Command("eval", "Measure a model on a dataset split without training it (the trial flags pick task, model and data).") { split, json, threads };
        trial.AddTo(command);
        command.SetAction(parse => CommandRunner.RunAsync(loggers =>
        {
            var spec = trial.Read(parse, "eval");
            var splitName = parse.GetValue(split)!;
            var metrics = TrialRunner.Evaluate(spec, splitName, loggers.CreateLogger("eval"));
            if (parse.GetValue(json)) Console.Out.WriteLine(TrialRunner.ToJson(metrics));
            else AnsiConsole.Write(TrainCommand.MetricsTable(metrics, splitName));
            return Task.FromResult(0);
        }, parse.GetValue(threads)));
        return command;
    }
}
