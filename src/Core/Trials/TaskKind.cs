using System.Reflection;
using System.Text.Json.Serialization;

namespace ExperimentGrid.Core.Trials;

/// <summary>What a trial trains. The member names written here are the names specs, flags and metrics.json use.</summary>
public enum TaskKind
{
    [JsonStringEnumMemberName("text-classification")]
    TextClassification,

    [JsonStringEnumMemberName("token-classification")]
    TokenClassification,

    /// <summary>Masked-LM continued pretraining of the encoder.</summary>
    [JsonStringEnumMemberName("masked-lm")]
    MaskedLm,

    /// <summary>Few-shot classification: contrastive sentence-embedding fine-tuning, then a logistic-regression head.</summary>
    [JsonStringEnumMemberName("setfit")]
    SetFit,
}

public static class TaskKinds
{
    private static readonly Dictionary<string, TaskKind> ByName = BuildNames();

    /// <summary>Each task's own name, then the aliases people coming from transformers' pipelines type.</summary>
    private static Dictionary<string, TaskKind> BuildNames()
    {
        var names = new Dictionary<string, TaskKind>(StringComparer.OrdinalIgnoreCase);
        foreach (var kind in Enum.GetValues<TaskKind>()) names[Name(kind)] = kind;
        names["ner"] = TaskKind.TokenClassification;
        names["fill-mask"] = TaskKind.MaskedLm;
        names["mlm"] = TaskKind.MaskedLm;
        return names;
    }

    public static string Name(TaskKind kind) => EnumNames.Name(kind);

    public static IEnumerable<string> Names => ByName.Keys;

    public static bool TryParse(string? text, out TaskKind kind) => ByName.TryGetValue(text?.Trim() ?? "", out kind);
}
