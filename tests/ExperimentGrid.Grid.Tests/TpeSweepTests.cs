using ExperimentGrid.Contracts;
using ExperimentGrid.Grains.Sweeps;
using ExperimentGrid.TestSupport;

namespace ExperimentGrid.Grid.Tests;

/// <summary>A TPE sweep on a silo of fakes: suggested while trials run, told as they end, pruned by ASHA.</summary>
[Collection(SiloCollection.Name)]
public sealed class TpeSweepTests
{
    private const string Spec = """
        name: tuned
        trial: { model: minilm, dataset: rotten_tomatoes, test_split: none, epochs: 4 }
        random:
          learning_rate: { log_uniform: [1.0e-6, 1.0e-3] }
          batch_size: { choice: [8, 16, 32, 64] }
        searcher: { type: tpe, startup_trials: 4 }
        scheduler: { type: asha, grace_period: 1, reduction_factor: 2 }
        objective: { metric: f1 }
        max_trials: 12
        max_concurrent_trials: 2
        retries: 0
        """;

    [Fact]
    public async Task A_tpe_sweep_pruned_by_asha_runs_its_max_trials_to_the_end()
    {
        var fakes = new FakeTrainableFactory();
        var (end, _) = await GridWorld.RunOnFakesAsync(fakes, "tuned", Spec, TimeSpan.FromSeconds(90));

        Assert.Equal((SweepStatus.Finished, SweepGrain.MaxTrials), (end.Status, end.EndReason));
        Assert.Equal(Enumerable.Range(1, 12).Select(i => $"t{i:D3}"), end.Trials.Select(t => t.TrialId));
        Assert.All(end.Trials, t => Assert.Equal(TrialStatus.Completed, t.Status));
        Assert.Equal(12, end.Trials.Select(t => t.Hyperparameters.Single(h => h.Field == "learning_rate").Value).Distinct().Count());
        // ASHA stopped some trials at its rungs (epochs 1 and 2) and let others run all 4 epochs.
        var reached = fakes.Created.GroupBy(f => f.Spec).Select(g => g.Max(f => f.CompletedEpochs)).ToList();
        Assert.Contains(reached, epochs => epochs < 4);
        Assert.Contains(4, reached);
    }
}
