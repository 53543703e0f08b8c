using System.Text.RegularExpressions;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// What a sweep's name and id may hold. Both become directory names under the checkpoint root and metric labels, and
/// an id comes from any client of the grid, so neither may hold a path separator, be "." or "..", or be rooted.
/// </summary>
public static partial class SweepNames
{
    public const int NameLength = 64;

    /// <summary>Room for a name and the `-yyyyMMdd-HHmmss` that `grid sweep run` appends to make its id.</summary>
    public const int IdLength = 128;

    // \z, not $: $ also matches before a final newline.
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*\z")]
    private static partial Regex Pattern();

    public static bool IsName(string? name) => Fits(name, NameLength);

    public static bool IsId(string? id) => Fits(id, IdLength);

    /// <summary>The rule, for messages: what a name or id of at most <paramref name="length"/> characters may hold.</summary>
    public static string Rule(int length) => $"must be 1 to {length} letters, digits, '.', '_' or '-', starting with a letter or digit, so that it is safe in paths and metric labels";

    private static bool Fits(string? text, int length) => text is { Length: > 0 } && text.Length <= length && Pattern().IsMatch(text);
}
