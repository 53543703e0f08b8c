using System.CommandLine;

namespace ExperimentGrid.Client.Commands;

/// <summary>Texts given as arguments, or one per line on stdin when the only argument is "-".</summary>
internal static class TextInputs
{
    public static Argument<string[]> Argument(string description) => new("texts")
    {
        Description = description + " Pass - to read one text per line from stdin.",
        Arity = ArgumentArity.OneOrMore,
    };

    public static IReadOnlyList<string> Read(string[] texts)
    {
        if (texts is not ["-"]) return texts;
        var lines = new List<string>();
        while (Console.In.ReadLine() is { } line)
            if (!string.IsNullOrWhiteSpace(line)) lines.Add(line);
        if (lines.Count == 0) throw new ArgumentException("texts: stdin held no text.");
        return lines;
    }
}
