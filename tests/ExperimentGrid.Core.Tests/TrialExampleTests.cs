using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Tests;

/// <summary>The trial files under examples/, which README tells people to run with `grid train --config`, as they are.</summary>
public sealed class TrialExampleTests
{
    private static string ExamplesDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ExperimentGrid.sln"))) return Path.Combine(dir.FullName, "examples");
        throw new DirectoryNotFoundException($"no ExperimentGrid.sln above {AppContext.BaseDirectory}");
    }

    public static TheoryData<string> Files => [.. Directory.EnumerateFiles(ExamplesDirectory(), "*.yaml").Select(f => Path.GetFileName(f)).Order()];

    [Theory]
    [MemberData(nameof(Files))]
    public void Each_trial_file_reads_as_a_valid_spec(string file)
    {
        var spec = TrialValues.Load(Path.Combine(ExamplesDirectory(), file)).ToSpec(file);
        Assert.Equal(BundledModelName, spec.Model);
    }

    private const string BundledModelName = "minilm";
}
