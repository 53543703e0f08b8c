using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.TestSupport;
using static ExperimentGrid.TestSupport.LeaderboardEntries;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// Configurations ranked from their replicates: what LeaderboardRow.Rank groups and how it orders, and the leaderboard
/// grain's RankAsync on a test cluster. Means and intervals are worked out by hand (t(0.975, 4) = 2.776445,
/// t(0.975, 1) = 12.7062).
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class LeaderboardRowTests(GridClusterFixture fixture) : IClassFixture<GridClusterFixture>
{
    /// <summary>lr=1e-5 under five seeds (mean 0.81 ± 0.019632), lr=2e-5 once (0.85), lr=3e-5 under two seeds (0.72 ± 0.254124).</summary>
    private static LeaderboardEntry[] ThreeConfigurations(string sweep) =>
    [
        Trial(sweep, "t001", 0.80, "learning_rate=1e-5 epochs=2", seed: 1, order: 1),
        Trial(sweep, "t002", 0.82, "learning_rate=1e-5 epochs=2", seed: 2, order: 2),
        Trial(sweep, "t003", 0.81, "learning_rate=1e-5 epochs=2", seed: 3, order: 3),
        Trial(sweep, "t004", 0.79, "learning_rate=1e-5 epochs=2", seed: 4, order: 4),
        Trial(sweep, "t005", 0.83, "learning_rate=1e-5 epochs=2", seed: 5, order: 5),
        Trial(sweep, "t006", 0.85, "learning_rate=2e-5 epochs=2", seed: 1, order: 6),
        Trial(sweep, "t007", 0.70, "learning_rate=3e-5 epochs=2", seed: 1, order: 7),
        Trial(sweep, "t008", 0.74, "learning_rate=3e-5 epochs=2", seed: 2, order: 8),
    ];

    [Fact]
    public void Replicates_that_differ_only_in_seed_make_one_row_with_their_mean_interval_and_best_model()
    {
        var rows = LeaderboardRow.Rank(ThreeConfigurations("s"), "s");

        Assert.Equal(["learning_rate=2e-5 epochs=2", "learning_rate=1e-5 epochs=2", "learning_rate=3e-5 epochs=2"],
            rows.Select(r => string.Join(' ', r.Hyperparameters.Select(h => $"{h.Field}={h.Value}"))));
        var (single, five, two) = (rows[0], rows[1], rows[2]);

        Assert.Equal(5, five.N);
        Assert.Equal(["1", "2", "3", "4", "5"], five.Replicates.Select(r => r.Seed));
        Assert.Equal([0.80, 0.82, 0.81, 0.79, 0.83], five.Replicates.Select(r => Assert.Single(r.Values)));
        Assert.Equal(0.81, five.Intervals[0].Mean, 12);
        Assert.Equal(0.019632, five.Intervals[0].HalfWidth!.Value, 5);
        Assert.Equal("t005", five.Best.TrialId);
        Assert.Equal("/models/s/t005", five.Model);
        Assert.Null(five.ParetoRank);

        Assert.Equal(1, single.N);
        Assert.Null(single.Intervals[0].HalfWidth);
        Assert.Equal("/models/s/t006", single.Model);

        Assert.Equal(0.72, two.Intervals[0].Mean, 12);
        Assert.Equal(0.254124, two.Intervals[0].HalfWidth!.Value, 4);
    }

    [Fact]
    public void Sweeps_are_never_merged_and_across_sweeps_the_mean_score_orders()
    {
        // The same configuration in two sweeps: two rows. A minimised objective ranks its lowest mean first.
        LeaderboardEntry[] entries =
        [
            Trial("a", "t001", 0.60, "learning_rate=1e-5", seed: 1, order: 1),
            Trial("a", "t002", 0.70, "learning_rate=1e-5", seed: 2, order: 2),
            Trial("b", "t001", 0.90, "learning_rate=1e-5", order: 3),
            Trial("c", "t001", 0.50, "learning_rate=1e-5", order: 4, objective: MinLoss),
            Trial("c", "t002", 0.20, "learning_rate=2e-5", order: 5, objective: MinLoss),
        ];

        var all = LeaderboardRow.Rank(entries, null);

        // Scores: b 0.90, a 0.65, c/2e-5 -0.20, c/1e-5 -0.50.
        Assert.Equal([("b", 0.90), ("a", 0.65), ("c", 0.20), ("c", 0.50)], all.Select(r => (r.SweepId, Math.Round(r.Intervals[0].Mean, 12))));
        Assert.Equal(["t002", "t001"], LeaderboardRow.Rank(entries, "c").Select(r => r.Best.TrialId));
        Assert.Equal(2, Assert.Single(LeaderboardRow.Rank(entries, "a")).N);
        Assert.Empty(LeaderboardRow.Rank(entries, "none"));
    }

    [Fact]
    public void Equal_means_go_to_more_replicates_then_to_the_earliest_and_nan_comes_last()
    {
        LeaderboardEntry[] entries =
        [
            Trial("s", "t001", double.NaN, "learning_rate=1e-5", order: 1),
            Trial("s", "t002", 0.5, "learning_rate=2e-5", order: 2),
            Trial("s", "t003", 0.5, "learning_rate=3e-5", order: 3),
            Trial("s", "t004", 0.25, "learning_rate=4e-5", seed: 1, order: 4),
            Trial("s", "t005", 0.75, "learning_rate=4e-5", seed: 2, order: 5),
            Trial("s", "t006", 0.5, "learning_rate=5e-5", order: 0),
        ];

        var rows = LeaderboardRow.Rank(entries, "s");

        // Four configurations at mean 0.5 (exact in binary): 4e-5 has two replicates; of the single ones, 5e-5 was recorded first.
        Assert.Equal(["4e-5", "5e-5", "2e-5", "3e-5", "1e-5"], rows.Select(r => Assert.Single(r.Hyperparameters).Value));
        Assert.True(double.IsNaN(rows[^1].Intervals[0].Mean));
    }

    /// <summary>
    /// F1 (max) against train_seconds (min), on the configurations' means. 1e-5: (0.81, 110) over two seeds; 2e-5:
    /// (0.85, 300); 3e-5: (0.75, 50); 4e-5: (0.78, 150), which 1e-5 beats on both; 5e-5: (NaN, 10).
    /// Front: 2e-5 (best F1), 3e-5 (fastest), 1e-5 (nothing beats it on both). Rank 2: 4e-5. Last: the NaN.
    /// </summary>
    private static LeaderboardEntry[] TwoObjectives(string sweep) =>
    [
        F1AndSeconds(sweep, "t001", 0.80, 100, "learning_rate=1e-5", seed: 1, order: 1),
        F1AndSeconds(sweep, "t002", 0.82, 120, "learning_rate=1e-5", seed: 2, order: 2),
        F1AndSeconds(sweep, "t003", 0.85, 300, "learning_rate=2e-5", order: 3),
        F1AndSeconds(sweep, "t004", 0.75, 50, "learning_rate=3e-5", order: 4),
        F1AndSeconds(sweep, "t005", 0.78, 150, "learning_rate=4e-5", order: 5),
        F1AndSeconds(sweep, "t006", double.NaN, 10, "learning_rate=5e-5", order: 6),
    ];

    [Fact]
    public void Within_a_sweep_of_several_objectives_the_pareto_front_comes_first_then_the_first_objective()
    {
        var rows = LeaderboardRow.Rank(TwoObjectives("s"), "s");

        Assert.Equal([("2e-5", 1), ("1e-5", 1), ("3e-5", 1), ("4e-5", 2), ("5e-5", 3)], rows.Select(r => (Assert.Single(r.Hyperparameters).Value, r.ParetoRank!.Value)));
        Assert.Equal([true, true, true, false, false], rows.Select(r => r.OnParetoFront));
        var seeded = rows[1];
        Assert.Equal([MaxF1, MinSeconds], seeded.Objectives);
        Assert.Equal([0.81, 110.0], seeded.Intervals.Select(i => Math.Round(i.Mean, 12)));
        // Seconds 100 and 120: s = sqrt(200), half-width 12.7062 * sqrt(200) / sqrt(2) = 127.062.
        Assert.Equal(127.062, seeded.Intervals[1].HalfWidth!.Value, 3);
        Assert.Equal([0.82, 120.0], seeded.Best.Values);
    }

    [Fact]
    public void Across_sweeps_the_first_objectives_mean_orders_even_where_a_sweep_has_several()
    {
        var rows = LeaderboardRow.Rank(TwoObjectives("s"), null);

        Assert.Equal(["2e-5", "1e-5", "4e-5", "3e-5", "5e-5"], rows.Select(r => Assert.Single(r.Hyperparameters).Value));
        Assert.Equal([1, 1, 2, 1, 3], rows.Select(r => r.ParetoRank!.Value));
    }

    [Fact]
    public async Task The_grain_ranks_configurations_and_keeps_its_trial_leaderboard()
    {
        var board = fixture.Cluster.GrainFactory.GetGrain<ILeaderboardGrain>($"board-{Guid.NewGuid():N}");
        foreach (var entry in ThreeConfigurations("s")) Assert.True(await board.RecordAsync(entry));
        Assert.True(await board.RecordAsync(Trial("other", "t001", 0.99, "learning_rate=1e-5")));

        var top = await board.RankAsync("s", 2);
        Assert.Equal([1, 5], top.Select(r => r.N));
        Assert.Equal(0.019632, top[1].Intervals[0].HalfWidth!.Value, 5);
        Assert.Equal(["1", "2", "3", "4", "5"], top[1].Replicates.Select(r => r.Seed));
        Assert.Equal("/models/s/t005", top[1].Model);
        Assert.Equal(["other", "s", "s", "s"], (await board.RankAsync(null, 10)).Select(r => r.SweepId));
        Assert.Equal(9, (await board.TopAsync(null, 100)).Count);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => board.RankAsync(null, 0));
    }
}
