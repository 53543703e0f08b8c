namespace ExperimentGrid.Core.Trials;

public enum TaskKind
{
    TextClassification,
    TokenClassification,
}

public static class TaskKinds
{
    private static readonly Dictionary<string, TaskKind> ByName = new(StringComparer.OrdinalIgnoreCase)
    {
        ["text-classification"] = TaskKind.TextClassification,
        ["token-classification"] = TaskKind.TokenClassification,
        ["ner"] = TaskKind.TokenClassification,
    };

    public static IEnumerable<string> Names => ByName.Keys;

    public static bool TryParse(string? text, out TaskKind kind) => ByName.TryGetValue(text?.Trim() ?? "", out kind);
}
