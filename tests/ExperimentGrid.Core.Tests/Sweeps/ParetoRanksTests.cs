using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;

namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>Each expected rank is checked by hand in the comment beside its point.</summary>
public sealed class ParetoRanksTests
{
    private static readonly SweepObjective MaxF1 = new(EvaluationMetric.F1, ObjectiveMode.Max);
    private static readonly SweepObjective MinLoss = new(EvaluationMetric.Loss, ObjectiveMode.Min);

    [Fact]
    public void Fronts_peel_off_in_turn_with_one_objective_maximised_and_one_minimised()
    {
        double[][] points =
        [
            [0.90, 100],         // A: best F1; only D ties it, with more loss: front
            [0.85, 50],          // B: lowest loss, tied by G only: front
            [0.80, 60],          // C: B has more F1 and less loss: rank 2 (nothing else beats it)
            [0.90, 120],         // D: A has equal F1 and less loss: rank 2
            [0.70, 200],         // E: C beats it on both: rank 3
            [double.NaN, 10],    // F: undefined F1: last, after rank 3
            [0.85, 50],          // G: equal to B; equal points do not dominate each other: front
        ];

        var ranks = ParetoRanks.Of(points, [MaxF1, MinLoss]);

        Assert.Equal([1, 1, 2, 2, 3, 4, 1], ranks);
    }

    [Fact]
    public void The_direction_of_each_objective_decides()
    {
        double[][] points = [[0.9, 10], [0.8, 20]];

        // Both maximised: each wins one, so both are on the front. F1 up, loss down: the first wins both. F1 down, loss up: the second does.
        Assert.Equal([1, 1], ParetoRanks.Of(points, [MaxF1, new SweepObjective(EvaluationMetric.Accuracy, ObjectiveMode.Max)]));
        Assert.Equal([1, 2], ParetoRanks.Of(points, [MaxF1, MinLoss]));
        Assert.Equal([2, 1], ParetoRanks.Of(points, [new SweepObjective(EvaluationMetric.F1, ObjectiveMode.Min), new SweepObjective(EvaluationMetric.Loss, ObjectiveMode.Max)]));
    }

    [Fact]
    public void One_objective_ranks_by_its_score_with_ties_shared()
    {
        double[][] losses = [[3.0], [1.0], [2.0], [1.0], [double.NaN]];

        Assert.Equal([3, 1, 2, 1, 4], ParetoRanks.Of(losses, [MinLoss]));
    }

    [Fact]
    public void Only_nan_points_all_share_rank_one_and_a_point_of_the_wrong_size_is_refused()
    {
        Assert.Equal([1, 1], ParetoRanks.Of([[double.NaN, 1.0], [0.5, double.NaN]], [MaxF1, MinLoss]));
        Assert.Empty(ParetoRanks.Of([], [MaxF1]));
        Assert.Throws<ArgumentException>(() => ParetoRanks.Of([[0.5]], [MaxF1, MinLoss]));
    }
}
