using System.CommandLine;
using System.Text.RegularExpressions;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Client.Commands;

/// <summary>Texts given as arguments, or one per line on stdin when the only argument is "-".</summary>
internal static partial class TextInputs
{
    /// <summary>
    /// The texts. A token like --name that no option of the command took would become a text: a mistyped flag
    /// (--max-lenght) would be classified, or embedded, instead of refused. Such a token is an error here.
    /// </summary>
    public static Argument<string[]> Argument(string description)
    {
        var argument = new Argument<string[]>("texts")
        {
            Description = description + " Pass - to read one text per line from stdin.",
            Arity = ArgumentArity.OneOrMore,
        };
        argument.Validators.Add(result =>
        {
            foreach (var token in result.Tokens.Where(t => FlagLike().IsMatch(t.Value)))
                result.AddError($"{token.Value}: not a flag of this command; a text that looks like a flag goes on stdin (-).");
        });
        return argument;
    }

    [GeneratedRegex("^--?[A-Za-z][A-Za-z0-9-]*$")]
    private static partial Regex FlagLike();

    /// <summary>--max-length, bounded as the trial field max_length is, and checked as the command line is parsed.</summary>
    public static Option<int> MaxLengthOption(string description, int defaultValue)
    {
        var option = new Option<int>("--max-length") { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (TrialSchema.Field(nameof(TrialSpec.MaxLength)).Check(result.GetValueOrDefault<int>()) is { } problem) result.AddError($"--max-length: {problem}");
        });
        return option;
    }

    /// <summary>
    /// The texts; an empty one is refused, as a model would still score its bare [CLS] [SEP] and give an answer that
    /// looks real. Blank lines on stdin only separate texts.
    /// </summary>
    public static IReadOnlyList<string> Read(string[] texts)
    {
        if (texts is not ["-"])
        {
            for (var i = 0; i < texts.Length; i++)
            {
                if (string.IsNullOrWhiteSpace(texts[i])) throw new ArgumentException($"text {i + 1}: empty; give each text at least one non-blank character.");
                if (LoneSurrogate(texts[i]) is { } at)
                    throw new ArgumentException($"text {i + 1}: character {at + 1} is half of a UTF-16 surrogate pair (U+{(int)texts[i][at]:X4}), not Unicode text.");
            }
            return texts;
        }
        var lines = new List<string>();
        while (Console.In.ReadLine() is { } line)
            if (!string.IsNullOrWhiteSpace(line)) lines.Add(line);
        if (lines.Count == 0) throw new ArgumentException("texts: stdin held no text.");
        return lines;
    }

    private static int? LoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(text[i])) return i;
        }
        return null;
    }
}
