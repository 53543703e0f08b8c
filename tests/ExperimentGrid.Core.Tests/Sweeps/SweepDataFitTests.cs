namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>A sweep refuses, at submission, label_names that do not name every label of the training split.</summary>
public sealed class SweepDataFitTests : IDisposable
{
    private readonly SweepFixture _fixture = new();

    public SweepDataFitTests()
    {
        var threeClasses = Directory.CreateDirectory(Path.Combine(_fixture.DataRoot, "three")).FullName;
        File.WriteAllText(Path.Combine(threeClasses, "train.jsonl"),
            "{\"text\": \"bad\", \"label\": 0}\n{\"text\": \"fine\", \"label\": 1}\n{\"text\": \"great\", \"label\": 2}\n{\"text\": \"dull\", \"label\": 0}\n");
        var entities = Directory.CreateDirectory(Path.Combine(_fixture.DataRoot, "entities")).FullName;
        File.WriteAllText(Path.Combine(entities, "train.txt"), "EU B-ORG\nrejects O\n\nPeter B-PER\nBlackburn I-PER\nin O\nLondon B-LOC\n");
    }

    public void Dispose() => _fixture.Dispose();

    private static string Spec(string trial) => $"""
        name: labels
        objective: {"{ metric: f1 }"}
        trial:
          {trial}
        grid:
          learning_rate: [1.0e-5, 2.0e-5]
        """;

    [Fact]
    public void Fewer_label_names_than_the_training_splits_classes_are_refused_at_their_line()
    {
        var (message, path) = _fixture.Refuse(Spec("dataset: three\n  label_names: [negative, positive]"));

        Assert.Equal($"{path}: 1 problem(s):\n  - trial.label_names (line 5): 2 names, but {Path.Combine(_fixture.DataRoot, "three", "train.jsonl")}:3 " +
            "has class id 2; name every class id from 0 to 2", message);
    }

    [Fact]
    public void Label_names_for_every_class_are_accepted()
    {
        var plan = _fixture.Expand(Spec("dataset: three\n  label_names: [negative, neutral, positive]"));

        Assert.Equal(["negative", "neutral", "positive"], plan.Trials[0].Spec.LabelNames!);
    }

    [Fact]
    public void Tags_that_label_names_leave_out_are_named()
    {
        var (message, _) = _fixture.Refuse(Spec("task: token-classification\n  dataset: entities\n  label_names: [O, B-ORG, I-ORG, B-PER, I-PER]"));

        Assert.Contains($"trial.label_names (line 6): leaves out tags that {Path.Combine(_fixture.DataRoot, "entities", "train.txt")} uses: B-LOC", message);
    }

    [Fact]
    public void Without_label_names_the_data_is_not_read_at_submission()
    {
        // A training split that the trial itself would reject (a text label) is the trial's to name when it runs.
        File.WriteAllText(Path.Combine(_fixture.DataRoot, "three", "train.jsonl"), "{\"text\": \"bad\", \"label\": \"negative\"}\n");

        Assert.Equal(2, _fixture.Expand(Spec("dataset: three")).Trials.Count);
    }
}
