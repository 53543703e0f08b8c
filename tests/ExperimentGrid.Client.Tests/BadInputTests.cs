using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ExperimentGrid.TestSupport;
using ExperimentGrid.TestSupport.BadInput;

namespace ExperimentGrid.Client.Tests;

/// <summary>The world of bad inputs, written once for the class.</summary>
public sealed class BadInputWorldFixture : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("grid-bad-input-").FullName;

    public BadInputWorld World { get; }

    public BadInputWorldFixture() => World = BadInputWorld.Create(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}

/// <summary>
/// Every row of <see cref="BadInputs"/> through the grid command line, in-process: the exit code, the message on
/// stderr, and no stack trace; and README's "Bad input" table, which must be the catalog's.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed partial class BadInputTests(BadInputWorldFixture fixture) : IClassFixture<BadInputWorldFixture>
{
    public static TheoryData<string> Cases() => [.. BadInputs.All.Select(c => c.ToString())];

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_bad_input_ends_in_its_message_without_a_stack_trace(string name)
    {
        var input = BadInputs.All.Single(c => c.ToString() == name);
        var world = fixture.World;
        if (input.Cli is null)
        {
            // A checkpoint: the slot that resumes from it drops it with the exception's message, whatever its type, and the trial restarts.
            var error = Record.Exception(() => world.ResumeTinyTrial(input.Resume!(world)));
            Assert.NotNull(error);
            Assert.True(BadInputMessages.Matches(world.Expand(input.Message), error.Message), $"expected \"{world.Expand(input.Message)}\", got {error.GetType().Name}: \"{error.Message}\"");
            return;
        }
        var result = await RunAsync(input.Cli(world), input.Stdin);
        var shown = $"exit code {result.ExitCode}\nstderr:\n{result.Error}\nstdout:\n{Shorten(result.Out)}";

        Assert.False(result.Error.Contains("   at ", StringComparison.Ordinal), $"a stack trace:\n{shown}");
        Assert.False(result.Error.Contains("Exception", StringComparison.Ordinal), $"an exception's type name:\n{shown}");
        if (input.Accepted)
        {
            Assert.True(result.ExitCode == 0, shown);
            Assert.True(result.Out.Contains(input.Output!, StringComparison.Ordinal), $"expected '{input.Output}' on stdout:\n{shown}");
            return;
        }
        Assert.True(result.ExitCode == input.ExitCode, $"expected exit code {input.ExitCode}:\n{shown}");
        Assert.True(BadInputMessages.Matches(world.Expand(input.Message), result.Error), $"expected \"{world.Expand(input.Message)}\":\n{shown}");
        // One line, or a short list of problems, besides the log lines a command writes before it meets the input.
        var errorLines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !LogLine().IsMatch(l)).ToList();
        Assert.True(errorLines.Count is > 0 and <= 12, $"expected one line or a short list:\n{shown}");
    }

    [Fact]
    public async Task A_byte_that_is_not_UTF8_on_stdin_is_dropped_as_transformers_drops_U_FFFD()
    {
        // The console decodes the Latin-1 é of "café" as U+FFFD; BERT's text cleaning drops it, leaving "caf".
        var damaged = Encoding.UTF8.GetString([.. "caf"u8, 0xE9, .. " au lait, a good film\n"u8]);
        var fromStdin = await RunAsync(["predict", "--model", fixture.World.TinyModel, "--device", "cpu", "--json", "-"], damaged);
        var withoutTheByte = await RunAsync(["predict", "--model", fixture.World.TinyModel, "--device", "cpu", "--json", "caf au lait, a good film"], null);
        var withAnotherWord = await RunAsync(["predict", "--model", fixture.World.TinyModel, "--device", "cpu", "--json", "caf bad au lait, a good film"], null);

        static string Logits(Cli.Result result) => JsonNode.Parse(result.Out)![0]!["logits"]!.ToJsonString();
        Assert.True(fromStdin.ExitCode == 0, fromStdin.Error);
        Assert.Contains('\uFFFD', damaged);
        Assert.Equal(Logits(withoutTheByte), Logits(fromStdin));
        // The comparison can tell texts apart: one more known word changes the logits of this tiny model.
        Assert.NotEqual(Logits(withAnotherWord), Logits(fromStdin));
    }

    [Fact]
    public void The_checkpoint_the_bad_ones_are_copies_of_resumes()
    {
        fixture.World.ResumeTinyTrial(fixture.World.Checkpoint("good"));
    }

    [Fact]
    public void The_catalog_holds_at_least_40_bad_inputs_and_every_kind()
    {
        Assert.True(BadInputs.All.Count >= 40, $"{BadInputs.All.Count} cases");
        foreach (var kind in Enum.GetValues<BadInputKind>()) Assert.Contains(BadInputs.All, c => c.Kind == kind);
        Assert.Equal(BadInputs.All.Count, BadInputs.All.Select(c => c.ToString()).Distinct().Count());
    }

    [Fact]
    public void The_readme_table_is_the_catalog()
    {
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md")).ReplaceLineEndings("\n");
        var start = readme.IndexOf(BadInputs.TableStart, StringComparison.Ordinal);
        var end = readme.IndexOf(BadInputs.TableEnd, StringComparison.Ordinal);
        var expected = BadInputs.MarkdownTable();
        Assert.True(start >= 0 && end > start, $"README.md has no bad-input table; put this in it:\n{expected}");
        Assert.True(expected == readme[start..(end + BadInputs.TableEnd.Length)], $"README.md's bad-input table differs from the catalog; it should read:\n{expected}");
    }

    private static async Task<Cli.Result> RunAsync(string[] args, string? stdin)
    {
        var original = Console.In;
        if (stdin is not null) Console.SetIn(new StringReader(stdin));
        try
        {
            return await Cli.RunAsync(args);
        }
        finally
        {
            Console.SetIn(original);
        }
    }

    [GeneratedRegex(@"^\d\d:\d\d:\d\d (info|warn): ")]
    private static partial Regex LogLine();

    private static string Shorten(string text) => text.Length > 2000 ? text[..2000] + "…" : text;
}
