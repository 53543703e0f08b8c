using System.Globalization;
using ExperimentGrid.Core.Sweeps;

namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>
/// A spec's paths stay under the configured roots however they try to leave: "..", absolute paths, and symbolic links
/// inside a root that lead out of it. {0} in an expected message is the fixture's directory, {1} a folder beside the
/// roots, outside all of them, that holds a dataset and a model.
/// </summary>
public sealed class SweepRootsTests : IDisposable
{
    private readonly SweepFixture _fixture = new();
    private string Outside => Path.Combine(_fixture.Directory, "outside");

    public SweepRootsTests()
    {
        Directory.CreateDirectory(Path.Combine(Outside, "secrets"));
        File.WriteAllText(Path.Combine(Outside, "secrets", "train.jsonl"), "{\"text\": \"secret\", \"label\": 1}\n");
        Directory.CreateDirectory(Path.Combine(Outside, "model"));
        TinyBert.Config().Save(Path.Combine(Outside, "model", "config.json"));
    }

    public void Dispose() => _fixture.Dispose();

    private string Expected(string message) => string.Format(CultureInfo.InvariantCulture, message, _fixture.Directory, Outside);

    private string Refused(string trialLines)
    {
        var (message, _) = _fixture.Refuse($"name: s\nobjective: {{ metric: f1 }}\ntrial:\n{trialLines}");
        Assert.Contains("1 problem(s)", message);
        return message;
    }

    [Theory]
    [InlineData("  dataset: ../models/tuned\n", "trial.dataset (line 4): '../models/tuned' is {0}/models/tuned, outside the data root {0}/data")]
    [InlineData("  dataset: /etc\n", "trial.dataset (line 4): '/etc' is /etc, outside the data root {0}/data")]
    [InlineData("  dataset: reviews/../../outside/secrets\n", "trial.dataset (line 4): 'reviews/../../outside/secrets' is {1}/secrets, outside the data root {0}/data")]
    [InlineData("  dataset: reviews\n  data_root: ..\n", "trial.data_root (line 5): '..' is {0}, outside the data root {0}/data")]
    [InlineData("  dataset: secrets\n  data_root: /tmp\n", "trial.data_root (line 5): '/tmp' is /tmp, outside the data root {0}/data")]
    [InlineData("  dataset: reviews\n  model: ../../elsewhere\n", "trial.model (line 5): '../../elsewhere' is not a bundled model (minilm, arctic-xs) and lies outside the model roots")]
    [InlineData("  dataset: reviews\n  model: /etc\n", "trial.model (line 5): '/etc' is not a bundled model (minilm, arctic-xs) and lies outside the model roots")]
    public void Dot_dot_and_absolute_paths_out_of_the_roots_are_refused(string trialLines, string expected) =>
        Assert.Contains($"\n  - {Expected(expected)}", Refused(trialLines));

    [Fact]
    public void A_linked_dataset_directory_that_leads_out_of_the_data_root_is_refused()
    {
        Directory.CreateSymbolicLink(Path.Combine(_fixture.DataRoot, "leak"), Path.Combine(Outside, "secrets"));

        Assert.Contains(Expected("\n  - trial.dataset (line 4): 'leak' is {0}/data/leak, which leads to {1}/secrets, outside the data root {0}/data"),
            Refused("  dataset: leak\n"));
    }

    [Fact]
    public void A_linked_dataset_file_that_leads_out_of_the_data_root_is_refused()
    {
        File.CreateSymbolicLink(Path.Combine(_fixture.DataRoot, "reviews", "stolen.jsonl"), Path.Combine(Outside, "secrets", "train.jsonl"));

        Assert.Contains(Expected("\n  - trial.dataset (line 4): 'reviews/stolen.jsonl' is {0}/data/reviews/stolen.jsonl, which leads to {1}/secrets/train.jsonl, outside the data root {0}/data"),
            Refused("  dataset: reviews/stolen.jsonl\n"));
    }

    [Fact]
    public void A_link_with_a_relative_target_is_followed_from_where_it_lies()
    {
        Directory.CreateSymbolicLink(Path.Combine(_fixture.DataRoot, "reviews", "up"), "../../outside");

        Assert.Contains(Expected("\n  - trial.dataset (line 4): 'reviews/up/secrets' is {0}/data/reviews/up/secrets, which leads to {1}/secrets, outside the data root {0}/data"),
            Refused("  dataset: reviews/up/secrets\n"));
    }

    [Fact]
    public void A_linked_data_root_that_leads_out_of_the_data_root_is_refused()
    {
        Directory.CreateSymbolicLink(Path.Combine(_fixture.DataRoot, "elsewhere"), Outside);

        Assert.Contains(Expected("\n  - trial.data_root (line 5): 'elsewhere' is {0}/data/elsewhere, which leads to {1}, outside the data root {0}/data"),
            Refused("  dataset: secrets\n  data_root: elsewhere\n"));
    }

    [Fact]
    public void A_linked_model_directory_that_leads_out_of_the_model_roots_is_refused()
    {
        Directory.CreateSymbolicLink(Path.Combine(_fixture.ModelRoot, "borrowed"), Path.Combine(Outside, "model"));

        Assert.Contains(Expected("\n  - trial.model (line 5): 'borrowed' is not a bundled model (minilm, arctic-xs) and lies outside the model roots " +
            "({0}/models, {0}/checkpoints): it is {0}/models/borrowed, which leads to {1}/model"),
            Refused("  dataset: reviews\n  model: borrowed\n"));
    }

    [Fact]
    public void Links_that_stay_inside_their_root_are_allowed()
    {
        Directory.CreateSymbolicLink(Path.Combine(_fixture.DataRoot, "alias"), Path.Combine(_fixture.DataRoot, "reviews"));
        File.CreateSymbolicLink(Path.Combine(_fixture.DataRoot, "reviews", "latest.jsonl"), "train.jsonl");
        Directory.CreateSymbolicLink(Path.Combine(_fixture.ModelRoot, "best"), "tuned");

        var plan = _fixture.Expand("name: s\nobjective: { metric: f1 }\ngrid:\n  dataset: [alias, reviews/latest.jsonl]\n  model: [best]\n");

        Assert.Equal(["alias", Path.Combine(_fixture.DataRoot, "reviews", "latest.jsonl")], plan.Trials.Select(t => t.Spec.Dataset));
        Assert.All(plan.Trials, t => Assert.Equal(Path.Combine(_fixture.ModelRoot, "best"), t.Spec.Model));
    }

    [Fact]
    public void Roots_configured_through_links_hold_what_lies_under_their_targets()
    {
        var linkedData = Path.Combine(_fixture.Directory, "data-link");
        var linkedModels = Path.Combine(_fixture.Directory, "models-link");
        Directory.CreateSymbolicLink(linkedData, _fixture.DataRoot);
        Directory.CreateSymbolicLink(linkedModels, _fixture.ModelRoot);
        var roots = new SweepRoots(linkedData, [linkedModels], _fixture.CheckpointRoot);

        var plan = SweepSpec.Load(_fixture.Write("name: s\nobjective: { metric: f1 }\ntrial:\n  dataset: reviews\n  model: tuned\n")).Expand(roots);

        Assert.Equal(Path.Combine(linkedModels, "tuned"), plan.Trials.Single().Spec.Model);
        Assert.Equal(linkedData, plan.Trials.Single().Spec.DataRoot);
    }

    [Fact]
    public void A_loop_of_links_is_refused_with_its_path()
    {
        Directory.CreateSymbolicLink(Path.Combine(_fixture.DataRoot, "loop"), "loop");

        Assert.Contains(Expected("\n  - trial.dataset (line 4): 'loop' is {0}/data/loop, which cannot be resolved ("), Refused("  dataset: loop\n"));
    }

    [Fact]
    public void A_split_in_a_dataset_folder_that_links_out_of_the_data_root_is_refused()
    {
        File.CreateSymbolicLink(Path.Combine(_fixture.DataRoot, "reviews", "validation.jsonl"), Path.Combine(Outside, "secrets", "train.jsonl"));

        Assert.Contains(Expected("\n  - trial.dataset (line 4): 'reviews' holds {0}/data/reviews/validation.jsonl, which leads to {1}/secrets/train.jsonl, outside the data root {0}/data"),
            Refused("  dataset: reviews\n"));
    }

    [Fact]
    public void A_file_in_a_model_directory_that_links_out_of_the_model_roots_is_refused()
    {
        File.CreateSymbolicLink(Path.Combine(_fixture.ModelRoot, "tuned", "vocab.txt"), Path.Combine(Outside, "model", "config.json"));

        Assert.Contains(Expected("\n  - trial.model (line 5): 'tuned' holds {0}/models/tuned/vocab.txt, which leads to {1}/model/config.json, outside the model roots ({0}/models, {0}/checkpoints)"),
            Refused("  dataset: reviews\n  model: tuned\n"));
    }
}
