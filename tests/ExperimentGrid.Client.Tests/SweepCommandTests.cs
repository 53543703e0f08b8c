namespace ExperimentGrid.Client.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class SweepCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("experimentgrid-sweep-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_bad_spec_is_refused_before_anything_runs_with_every_problem_named()
    {
        var spec = Write("bad.yaml", """
            name: bad
            trial:
              task: text-classification
              dataset: no-such-dataset
              epochs: 0
            grid:
              learning_rate: []
            """);

        var result = await Cli.RunAsync("sweep", "run", spec);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
        Assert.Contains("bad.yaml", result.Error);
        Assert.Contains("epochs", result.Error);
        Assert.Contains("no-such-dataset", result.Error);
        Assert.Contains("learning_rate", result.Error);
        Assert.DoesNotContain("sweep ", result.Out);
    }

    [Fact]
    public async Task Sweep_run_trains_two_tiny_trials_in_process_and_ends_with_the_leaderboard()
    {
        var spec = Write("tiny.yaml", """
            name: tiny
            trial:
              task: text-classification
              model: minilm
              dataset: rotten_tomatoes
              train_limit: 32
              eval_limit: 16
              max_length: 32
              batch_size: 8
              epochs: 1
              test_split: none
            grid:
              learning_rate: [2.0e-5, 5.0e-5]
            objective:
              metric: f1
              mode: max
            """);

        var result = await Cli.RunAsync("sweep", "run", spec, "--slots", "cpu:1", "--state", Path.Combine(_directory, "state"));

        Assert.True(result.ExitCode == 0, result.Error);
        // The leaderboard, up to the lines below it that name the best model (whose path names its trial too).
        var bestModel = result.Out.LastIndexOf("best model (", StringComparison.Ordinal);
        Assert.True(bestModel >= 0, result.Out);
        var leaderboard = result.Out[result.Out.LastIndexOf("rank", StringComparison.Ordinal)..bestModel];
        // Spectre.Console wraps cells to the console's width, so look for short, unbreakable pieces.
        Assert.True(leaderboard.Contains("t001", StringComparison.Ordinal) && leaderboard.Contains("t002", StringComparison.Ordinal), result.Out);
        Assert.Equal(1, leaderboard.Split("t001").Length - 1);
        Assert.Equal(1, leaderboard.Split("t002").Length - 1);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }
}
