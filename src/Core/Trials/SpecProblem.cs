namespace ExperimentGrid.Core.Trials;

/// <summary>
/// One thing wrong with a trial or a sweep as written: where it was written (a key path such as grid.freeze[2], or
/// the flag that was typed), the line of the file that set it, and what is wrong.
/// </summary>
public sealed record SpecProblem(string Path, long? Line, string Message)
{
    public override string ToString() => Line is { } line ? $"{Path} (line {line}): {Message}" : $"{Path}: {Message}";

    /// <summary>The text both spec exceptions show: the source, the count, then one problem a line.</summary>
    public static string Describe(string source, IReadOnlyCollection<SpecProblem> problems) =>
        $"{source}: {problems.Count} problem(s):\n  - {string.Join("\n  - ", problems)}";
}
