using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Grains.Sweeps;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.Grid.Tests;

/// <summary>A sweep with two objectives on a silo of fakes: each trial's costs measured, and the Pareto front marked.</summary>
[Collection(SiloCollection.Name)]
public sealed class MultiObjectiveSweepTests
{
    [Fact]
    public async Task F1_against_train_seconds_puts_the_undominated_configurations_on_the_front()
    {
        const string spec = """
            name: tradeoff
            trial: { model: minilm, dataset: rotten_tomatoes, test_split: none }
            grid:
              learning_rate: [3.0e-5, 1.0e-3]
              epochs: [1, 3]
            objectives:
              - { metric: f1 }
              - { metric: train_seconds }
            retries: 0
            """;
        // Without noise, a fake's F1 and its nominal training time are known: 4 steps of 5 ms an epoch.
        var fakes = new FakeTrainableFactory { Noise = 0, StepTime = _ => TimeSpan.FromMilliseconds(5) };
        var (end, rows) = await GridWorld.RunOnFakesAsync(fakes, "tradeoff", spec, TimeSpan.FromSeconds(60));

        Assert.Equal(SweepStatus.Finished, end.Status);
        Assert.Equal([new SweepObjective(EvaluationMetric.F1, ObjectiveMode.Max), new SweepObjective(EvaluationMetric.TrainSeconds, ObjectiveMode.Min)], end.Objectives);
        string Name(LeaderboardRow row) => string.Join(" ", row.Hyperparameters.Select(h => h.Value));
        // 3e-5 beats 1e-3 at equal epochs, and so equal seconds: both 1e-3 trials are dominated, and 3e-5 for 1 and 3
        // epochs trade F1 against time. The front comes first, ordered by F1.
        Assert.Equal(["3.0e-5 3", "3.0e-5 1", "1.0e-3 3", "1.0e-3 1"], rows.Select(Name));
        Assert.Equal([1, 1, 2, 2], rows.Select(r => r.ParetoRank));
        Assert.Equal([0.06, 0.02, 0.06, 0.02], rows.Select(r => Math.Round(r.Intervals[1].Mean, 6)));
        Assert.Equal(0.9 * (1 - 0.125), rows[0].Intervals[0].Mean, 9);
    }
}
