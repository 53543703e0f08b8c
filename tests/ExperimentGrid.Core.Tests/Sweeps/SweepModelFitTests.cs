namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>A sweep refuses, at submission, trials that cannot fit their model's encoder.</summary>
public sealed class SweepModelFitTests : IDisposable
{
    private readonly SweepFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private const string Header = """
        name: fit
        objective: { metric: f1 }
        trial:
          dataset: reviews

        """;

    [Fact]
    public void A_freeze_depth_beyond_a_bundled_models_layers_is_refused_at_its_grid_value()
    {
        var (message, path) = _fixture.Refuse(Header + "grid:\n  freeze: [0, 9, all]\n");

        Assert.Equal($"{path}: 1 problem(s):\n  - grid.freeze[1] (line 6): 9 exceeds the 6 encoder layers of minilm; use 'all' to train only the head", message);
    }

    [Fact]
    public void A_directorys_own_config_bounds_freeze_and_an_explicit_max_length()
    {
        // TinyBert: 2 layers, 64 positions.
        var (message, path) = _fixture.Refuse(Header.Replace("dataset: reviews", "dataset: reviews\n  model: tuned\n  max_length: 128", StringComparison.Ordinal)
            + "grid:\n  freeze: [1, 3]\n");

        Assert.Equal($"{path}: 2 problem(s):\n" +
            "  - trial.max_length (line 6): 128 exceeds the 64 positions tuned has embeddings for (max_position_embeddings)\n" +
            "  - grid.freeze[1] (line 8): 3 exceeds the 2 encoder layers of tuned; use 'all' to train only the head", message);
    }

    [Fact]
    public void The_default_max_length_is_cut_to_the_model_not_refused()
    {
        var plan = _fixture.Expand(Header.Replace("dataset: reviews", "dataset: reviews\n  model: tuned", StringComparison.Ordinal) + "grid:\n  freeze: [0, 2, all]\n");

        Assert.Equal(3, plan.Trials.Count);
        Assert.All(plan.Trials, t => Assert.Equal(512, t.Spec.MaxLength));
    }

    [Fact]
    public void A_model_directory_without_a_config_is_named()
    {
        Directory.CreateDirectory(Path.Combine(_fixture.ModelRoot, "empty"));

        var (message, path) = _fixture.Refuse(Header.Replace("dataset: reviews", "dataset: reviews\n  model: empty", StringComparison.Ordinal));

        Assert.Equal($"{path}: 1 problem(s):\n  - trial.model (line 5): {Path.Combine(_fixture.ModelRoot, "empty", "config.json")}: model config not found.", message);
    }
}
