using System.CommandLine;
using ExperimentGrid.Core.Inference;
using ExperimentGrid.Core.Training;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

internal static class NerCommand
{
    public static Command Build()
    {
        var model = new Option<string>("--model", "-m") { Description = "A trained token-classification directory (the --out of grid train --task token-classification).", Required = true };
        var texts = TextInputs.Argument("Texts to tag.");
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        var json = new Option<bool>("--json") { Description = "Print JSON: per text, its entities with type, text, score and character offsets." };
        var command = new Command("ner", "Find named entities: word pieces and B-/I- tags merged into spans (aggregation \"simple\").") { model, texts, device, json };
        command.SetAction((parse, _) => CommandRunner.RunAsync(loggers =>
        {
            using var recognizer = EntityRecognizer.Load(parse.GetValue(model)!, parse.GetValue(device)!, logger: loggers.CreateLogger("ner"));
            var inputs = TextInputs.Read(parse.GetValue(texts)!);
            var results = inputs.Select(t => new { Text = t, Entities = recognizer.Recognize(t) }).ToList();
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(TrialRunner.ToJson(results));
                return Task.FromResult(0);
            }
            var table = new Table().AddColumns("text", "entity", "type", "score", "start", "end");
            foreach (var result in results)
                foreach (var e in result.Entities)
                    table.AddRow(Markup.Escape(result.Text), Markup.Escape(e.Text), Markup.Escape(e.Type), $"{e.Score:F4}", $"{e.Start}", $"{e.End}");
            AnsiConsole.Write(table);
            return Task.FromResult(0);
        }));
        return command;
    }
}
