using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Tests.Sweeps;

public sealed class MultiObjectiveSpecTests : IDisposable
{
    private readonly SweepFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private const string Header = "name: s\ntrial: { dataset: reviews }\ngrid:\n  freeze: [0, all]\n";

    [Fact]
    public void Objectives_are_kept_in_order_the_first_ranking_and_pruning()
    {
        var plan = _fixture.Expand(Header + "objectives:\n  - { metric: f1 }\n  - { metric: train_seconds }\n  - { metric: trainable_parameters, mode: min }\n");

        Assert.Equal(
            [new SweepObjective(EvaluationMetric.F1, ObjectiveMode.Max), new SweepObjective(EvaluationMetric.TrainSeconds, ObjectiveMode.Min),
                new SweepObjective(EvaluationMetric.TrainableParameters, ObjectiveMode.Min)],
            plan.Objectives);
        Assert.Equal(plan.Objectives[0], plan.Objective);
    }

    [Fact]
    public void Objective_and_objectives_together_are_refused()
    {
        var (message, _) = _fixture.Refuse(Header + "objective: { metric: f1 }\nobjectives:\n  - { metric: f1 }\n");
        Assert.Contains("\n  - objectives (line 6): also given objective: at objective (line 5); give one objective: or a list under objectives:", message);
    }

    [Fact]
    public void A_cost_cannot_come_first_because_schedulers_judge_the_first_after_every_epoch()
    {
        var (message, _) = _fixture.Refuse(Header + "objectives:\n  - { metric: train_seconds }\n  - { metric: f1 }\n");
        Assert.Contains("\n  - objectives[0].metric (line 6): the first objective is judged after every epoch, and train_seconds is known only at the end", message);
    }

    [Fact]
    public void A_metric_listed_twice_is_named_by_position()
    {
        var (message, _) = _fixture.Refuse(Header + "objectives:\n  - { metric: f1 }\n  - { metric: f1, mode: min }\n");
        Assert.Contains("\n  - objectives[1].metric (line 7): f1 is listed twice", message);
    }

    [Fact]
    public void A_metric_the_task_does_not_report_is_named_by_position()
    {
        var (message, _) = _fixture.Refuse(Header + "objectives:\n  - { metric: f1 }\n  - { metric: perplexity }\n");
        Assert.Contains("\n  - objectives[1].metric (line 7): task text-classification does not report perplexity", message);
    }

    [Fact]
    public void Every_task_reports_what_training_costs()
    {
        var validation = new ClassificationMetrics(10, 0.8, 0.7, 0.6, 0.9, 0.4, [0.7, 0.7]);
        var test = new ClassificationMetrics(20, 0.5, 0.75, 0.7, 0.8, 0.45, [0.6, 0.9]);
        EpochResult Epoch(int epoch, double seconds) => new(epoch, epoch * 10, 0.5, validation, seconds, 100, 1000);
        var result = new TrialResult(new TrialSpec(), [Epoch(1, 12.5), Epoch(2, 30.25)], test, [], 100, 1000, 60, 770, 22_000_000, "cpu", null, 16, 64, 2, 20);
        var metrics = TrialMetrics.Of(result);

        Assert.Equal(42.75, metrics.ValueOf(EvaluationMetric.TrainSeconds));
        Assert.Equal(770, metrics.ValueOf(EvaluationMetric.TrainableParameters));
        Assert.Equal(result.Final.Values(), metrics.Take(result.Final.Values().Count));
        Assert.True(double.IsNaN(metrics.ValueOf(EvaluationMetric.Perplexity)));
    }
}
