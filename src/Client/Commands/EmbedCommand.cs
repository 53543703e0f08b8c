using System.CommandLine;
using System.Text.Json;
using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Inference;

namespace ExperimentGrid.Client.Commands;

internal static class EmbedCommand
{
    public static Command Build()
    {
        var model = new Option<string>("--model", "-m") { Description = "A bundled model or a model directory.", DefaultValueFactory = _ => BundledModels.Default };
        var texts = TextInputs.Argument("Texts to embed.");
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        var maxLength = TextInputs.MaxLengthOption("Truncate texts to this many tokens (sentence-transformers uses 256 for MiniLM).", 256);
        var command = new Command("embed", "Sentence embeddings: a JSON list with one L2-normalised mean-pooled vector per text.") { model, texts, device, maxLength };
        command.SetAction((parse, _) => CommandRunner.RunAsync(loggers =>
        {
            using var embedder = SentenceEmbedder.Load(parse.GetValue(model)!, parse.GetValue(device)!, parse.GetValue(maxLength), loggers.CreateLogger("embed"));
            Console.Out.WriteLine(JsonSerializer.Serialize(embedder.Embed(TextInputs.Read(parse.GetValue(texts)!))));
            return Task.FromResult(0);
        }));
        return command;
    }
}
