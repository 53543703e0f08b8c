using System.Text.Json;
using System.Text.Json.Nodes;

namespace ExperimentGrid.Core.SetFit;

/// <summary>
/// The module list sentence-transformers reads beside the transformer weights (Transformer, mean Pooling, Normalize),
/// so SentenceTransformer(directory) in Python rebuilds the same embedding this project trained.
/// </summary>
public static class SentenceTransformersFiles
{
    public static void Write(string directory, int dimension)
    {
        JsonNode Module(int index, string path, string type) =>
            new JsonObject { ["idx"] = index, ["name"] = $"{index}", ["path"] = path, ["type"] = $"sentence_transformers.models.{type}" };
        File.WriteAllText(Path.Combine(directory, "modules.json"),
            new JsonArray(Module(0, "", "Transformer"), Module(1, "1_Pooling", "Pooling"), Module(2, "2_Normalize", "Normalize")).ToJsonString(Indented));
        Directory.CreateDirectory(Path.Combine(directory, "1_Pooling"));
        File.WriteAllText(Path.Combine(directory, "1_Pooling", "config.json"), new JsonObject
        {
            ["word_embedding_dimension"] = dimension,
            ["pooling_mode_cls_token"] = false,
            ["pooling_mode_mean_tokens"] = true,
            ["pooling_mode_max_tokens"] = false,
            ["pooling_mode_mean_sqrt_len_tokens"] = false,
        }.ToJsonString(Indented));
        Directory.CreateDirectory(Path.Combine(directory, "2_Normalize"));
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}
