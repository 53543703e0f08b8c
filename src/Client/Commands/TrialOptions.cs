using System.CommandLine;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Client.Commands;

/// <summary>
/// The flags that describe a trial, shared by every command that builds one: --config, then one flag per field of
/// <see cref="TrialSchema"/>, with its aliases and help. Values stay text here; the schema reads and checks them, so
/// a flag and a file key give the same value and the same messages.
/// </summary>
internal sealed class TrialOptions
{
    private readonly Option<FileInfo?> _config = new("--config")
    {
        Description = "A YAML or JSON trial file with the same keys as the flags (snake_case); flags override it.",
        HelpName = "FILE",
    };

    private readonly List<(TrialField Field, Option<string?> Option)> _fields =
        [.. TrialSchema.Fields.Select(field => (field, new Option<string?>(field.Flag, [.. field.Aliases]) { Description = field.Help }))];

    public void AddTo(Command command)
    {
        command.Options.Add(_config);
        foreach (var (_, option) in _fields) command.Options.Add(option);
    }

    /// <summary>The --config file with the flags laid over it, checked; a flag's problem is named by the flag as typed.</summary>
    public TrialSpec Read(ParseResult parse, string commandName)
    {
        var configPath = parse.GetValue(_config);
        var values = configPath is null ? new TrialValues() : TrialValues.Load(configPath.FullName);
        foreach (var (field, option) in _fields)
        {
            if (parse.GetResult(option) is { } given && parse.GetValue(option) is { } text)
                values.Read(field, text, given.IdentifierToken?.Value ?? field.Flag);
        }
        return values.ToSpec(configPath?.FullName ?? commandName);
    }
}
