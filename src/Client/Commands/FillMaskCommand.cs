using System.CommandLine;
using ExperimentGrid.Core.Inference;
using ExperimentGrid.Core.Training;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

internal static class FillMaskCommand
{
    public static Command Build()
    {
        var model = new Option<string>("--model", "-m") { Description = "A model directory with a masked-LM head (cls.predictions.*); a bundled model has none, so its head starts untrained.", Required = true };
        var texts = TextInputs.Argument("Texts with exactly one [MASK] each.");
        var top = new Option<int>("--top", "-k") { Description = "How many candidates to show.", DefaultValueFactory = _ => 5 };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        var json = new Option<bool>("--json") { Description = "Print JSON: per text, the candidates with token, score and filled sequence." };
        var command = new Command("fill-mask", "Predict the token behind [MASK]: the top k tokens with their scores and the filled sentences.") { model, texts, top, device, json };
        command.SetAction((parse, _) => CommandRunner.RunAsync(loggers =>
        {
            if (parse.GetValue(top) <= 0) throw new ArgumentException($"--top: must be positive, got {parse.GetValue(top)}.");
            using var filler = FillMask.Load(parse.GetValue(model)!, parse.GetValue(device)!, logger: loggers.CreateLogger("fill-mask"));
            var results = TextInputs.Read(parse.GetValue(texts)!).Select(t => new { Text = t, Candidates = filler.Predict(t, parse.GetValue(top)) }).ToList();
            if (parse.GetValue(json))
            {
                Console.Out.WriteLine(TrialRunner.ToJson(results));
                return Task.FromResult(0);
            }
            var table = new Table().AddColumns("text", "token", "score", "sequence");
            foreach (var result in results)
                foreach (var c in result.Candidates)
                    table.AddRow(Markup.Escape(result.Text), Markup.Escape(c.Token), $"{c.Score:F4}", Markup.Escape(c.Sequence));
            AnsiConsole.Write(table);
            return Task.FromResult(0);
        }));
        return command;
    }
}
