using System.CommandLine;
using ExperimentGrid.Core.Inference;
using ExperimentGrid.Core.Training;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

internal static class PredictCommand
{
    public static Command Build()
    {
        var model = new Option<string>("--model", "-m") { Description = "A trained classifier directory (the --out of grid train).", Required = true };
        var texts = TextInputs.Argument("Texts to classify.");
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        var maxLength = TextInputs.MaxLengthOption("Truncate texts to this many tokens.", 512);
        var json = new Option<bool>("--json") { Description = "Print JSON: one object per text with its label, probabilities and raw logits." };
        var command = new Command("predict", "Classify texts with a trained model: label and probability of each class.") { model, texts, device, maxLength, json };
        command.SetAction((parse, _) => CommandRunner.RunAsync(loggers =>
        {
            using var classifier = TextClassifier.Load(parse.GetValue(model)!, parse.GetValue(device)!, parse.GetValue(maxLength), loggers.CreateLogger("predict"));
            var predictions = classifier.Predict(TextInputs.Read(parse.GetValue(texts)!));
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(TrialRunner.ToJson(predictions));
                return Task.FromResult(0);
            }
            var table = new Table().AddColumns("text", "label").AddColumns([.. predictions[0].Scores.Select(s => Markup.Escape($"p({s.Label})"))]);
            foreach (var p in predictions)
                table.AddRow([Markup.Escape(p.Text), Markup.Escape(p.Label), .. p.Scores.Select(s => $"{s.Probability:F4}")]);
            AnsiConsole.Write(table);
            return Task.FromResult(0);
        }));
        return command;
    }
}
