using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Trials;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.Core.Tests;

/// <summary>The trial files under examples/, which README tells people to run with `grid train --config`, as they are.</summary>
public sealed class TrialExampleTests
{

    public static TheoryData<string> Files => [.. Directory.EnumerateFiles(Repository.Path("examples"), "*.yaml").Select(f => Path.GetFileName(f)).Order()];

    [Theory]
    [MemberData(nameof(Files))]
    public void Each_trial_file_reads_as_a_valid_spec(string file)
    {
        var spec = TrialValues.Load(Path.Combine(Repository.Path("examples"), file)).ToSpec(file);
        Assert.Equal(BundledModelName, spec.Model);
    }

    private const string BundledModelName = "minilm";

    /// <summary>
    /// A tuned trial file and the sweep that measured it hold the same settings twice, in two files
    /// people read alone; they must not drift apart.
    /// </summary>
    [Theory]
    [InlineData("rotten-tomatoes-best.yaml", "rotten-tomatoes-best-seeds.yaml", 5)]
    [InlineData("conll2003-best.yaml", "conll2003-best.yaml", 1)]
    public void A_tuned_trial_file_is_the_trial_its_sweep_measured(string trialFile, string sweepFile, int seeds)
    {
        using var checkpoints = new TemporaryFolder();
        var examples = Repository.Path("examples");
        var plan = SweepSpec.Load(Path.Combine(examples, "sweeps", sweepFile)).Expand(new SweepRoots(DatasetLocator.DefaultDataRoot(), [], checkpoints.Path));
        var spec = TrialValues.Load(Path.Combine(examples, trialFile)).ToSpec(trialFile);

        Assert.Equal(seeds, plan.Replicates.Count);
        Assert.Single(plan.Trials);
        Assert.Equal(spec, plan.Trials[0].Spec with { DataRoot = spec.DataRoot, LabelNames = spec.LabelNames });
        Assert.Equal(spec.LabelNames, plan.Trials[0].Spec.LabelNames);
    }

    private sealed class TemporaryFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("examples-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
