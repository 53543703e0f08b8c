using ExperimentGrid.Contracts;
using ExperimentGrid.Grains.Sweeps;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.Grid.Tests;

/// <summary>Seeds as replicates on a silo of fakes: every configuration under k seeds, ranked by its mean and interval.</summary>
[Collection(SiloCollection.Name)]
public sealed class ReplicateSweepTests
{
    [Fact]
    public async Task Each_configuration_runs_under_its_seeds_and_the_leaderboard_ranks_the_means()
    {
        const string spec = """
            name: replicated
            trial: { model: minilm, dataset: rotten_tomatoes, test_split: none, epochs: 2, seed: 10 }
            grid:
              learning_rate: [2.0e-5, 1.0e-3]
            replicates: 3
            objective: { metric: f1 }
            max_concurrent_trials: 2
            retries: 0
            """;
        // Noise large enough that the seeds' values differ in the fourth decimal the table shows.
        var fakes = new FakeTrainableFactory { Noise = 0.05 };
        var (end, rows) = await GridWorld.RunOnFakesAsync(fakes, "replicated", spec, TimeSpan.FromSeconds(60));

        Assert.Equal((SweepStatus.Finished, SweepGrain.Exhausted), (end.Status, end.EndReason));
        Assert.Equal(["t001-r1", "t001-r2", "t001-r3", "t002-r1", "t002-r2", "t002-r3"], end.Trials.Select(t => t.TrialId));
        Assert.Equal([10, 11, 12, 10, 11, 12], fakes.Created.OrderBy(f => f.Spec.LearningRate).ThenBy(f => f.Spec.Seed).Select(f => f.Spec.Seed));

        Assert.Equal(2, rows.Count);
        foreach (var row in rows)
        {
            var rate = Assert.Single(row.Hyperparameters).Value;
            var values = end.Trials.Where(t => t.Hyperparameters[0].Value == rate).Select(t => t.Objective!.Value).ToList();
            Assert.Equal(3, row.N);
            Assert.Equal(values.Average(), row.Intervals[0].Mean, 12);
            // t(0.975, 2) = 4.302653, from a table.
            var sd = Math.Sqrt(values.Sum(v => Math.Pow(v - values.Average(), 2)) / 2);
            Assert.Equal(4.302653 * sd / Math.Sqrt(3), row.Intervals[0].HalfWidth!.Value, 5);
        }
        Assert.True(rows[0].Intervals[0].Mean >= rows[1].Intervals[0].Mean);
    }
}
