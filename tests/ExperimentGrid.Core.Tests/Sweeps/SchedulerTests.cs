using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using static ExperimentGrid.Core.Sweeps.SchedulerDecision;

namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>Every expected decision below is worked out by hand from the rule's definition, in the comment beside it.</summary>
public sealed class SchedulerTests
{
    private static readonly SweepObjective MaxF1 = new(EvaluationMetric.F1, ObjectiveMode.Max);
    private static readonly SweepObjective MinLoss = new(EvaluationMetric.Loss, ObjectiveMode.Min);

    private static SchedulerDecision Report(ITrialScheduler scheduler, string trial, int epoch, double objective) =>
        scheduler.OnResult(new TrialReport(trial, epoch, objective));

    [Fact]
    public void Fifo_always_continues()
    {
        var fifo = new FifoScheduler();
        Assert.Equal([Continue, Continue, Continue], [Report(fifo, "a", 1, 0.9), Report(fifo, "b", 1, 0.0), Report(fifo, "b", 2, double.NaN)]);
    }

    [Theory]
    [InlineData(1, 2, 9, new[] { 1, 2, 4, 8 })]
    [InlineData(1, 3, 9, new[] { 1, 3 })] // 9 is max_epochs itself, where every trial stops anyway
    [InlineData(2, 3, 20, new[] { 2, 6, 18 })]
    [InlineData(1, 4, 1, new int[0])]
    public void Asha_rungs_sit_at_grace_times_powers_of_the_reduction_factor_below_max_epochs(int grace, int reduction, int max, int[] rungs) =>
        Assert.Equal(rungs, new AshaScheduler(MaxF1, new AshaSettings(grace, reduction, max)).Rungs);

    [Fact]
    public void Asha_lets_on_only_trials_at_or_above_the_rung_s_cutoff()
    {
        // Rungs at epochs 1 and 2 (max 4); reduction factor 2, so the cutoff is the median of those already there.
        var asha = new AshaScheduler(MaxF1, new AshaSettings(GracePeriod: 1, ReductionFactor: 2, MaxEpochs: 4));

        Assert.Equal(Continue, Report(asha, "a", 1, 0.50)); // first at rung 1: nothing to compare with
        Assert.Equal(Continue, Report(asha, "b", 1, 0.70)); // median of {0.50} = 0.50
        Assert.Equal(Continue, Report(asha, "c", 1, 0.60)); // median of {0.50, 0.70} = 0.60, and 0.60 is not below it
        Assert.Equal(Stop, Report(asha, "d", 1, 0.55));     // median of {0.50, 0.60, 0.70} = 0.60 > 0.55

        Assert.Equal(Continue, Report(asha, "b", 2, 0.80)); // first at rung 2
        Assert.Equal(Stop, Report(asha, "a", 2, 0.60));     // median of {0.80}
        Assert.Equal(Stop, Report(asha, "c", 2, 0.65));     // median of {0.80, 0.60} = 0.70, interpolated

        Assert.Equal(Continue, Report(asha, "b", 3, 0.10)); // epoch 3: rung 2 already judged b, so no new judgement
        Assert.Equal(Stop, Report(asha, "b", 4, 0.95));     // max_epochs
    }

    [Fact]
    public void Asha_in_min_mode_keeps_the_lowest_losses()
    {
        // Reduction factor 4: the cutoff is the 75th percentile of the turned scores (−loss).
        var asha = new AshaScheduler(MinLoss, new AshaSettings(GracePeriod: 1, ReductionFactor: 4, MaxEpochs: 3));

        Assert.Equal(Continue, Report(asha, "a", 1, 1.0));
        Assert.Equal(Continue, Report(asha, "b", 1, 0.8)); // cutoff −1.0; −0.8 is above it
        // Scores {−1.0, −0.8}: position 0.75 → −1.0·0.25 + −0.8·0.75 = −0.85, a loss of 0.85; 0.9 is worse.
        Assert.Equal(Stop, Report(asha, "c", 1, 0.9));
        Assert.Equal(Continue, Report(asha, "d", 1, 0.5));
    }

    [Fact]
    public void Asha_answers_a_repeated_report_as_before_and_does_not_count_it_again()
    {
        var asha = new AshaScheduler(MaxF1, new AshaSettings(GracePeriod: 1, ReductionFactor: 2, MaxEpochs: 4));
        foreach (var (trial, value) in new[] { ("a", 0.50), ("b", 0.70), ("c", 0.60), ("d", 0.55) }) Report(asha, trial, 1, value);

        Assert.Equal(Stop, Report(asha, "d", 1, 0.99));     // d was stopped at rung 1; the repeat says so again
        Assert.Equal(Continue, Report(asha, "a", 1, 0.99)); // and a's first value, 0.50, stays on the rung
        // Rung 1 holds {0.50, 0.55, 0.60, 0.70}: median 0.575. Had a's repeat replaced 0.50, it would be 0.65.
        Assert.Equal(Continue, Report(asha, "e", 1, 0.62));
    }

    [Fact]
    public void A_nan_objective_ranks_below_every_other()
    {
        var asha = new AshaScheduler(MaxF1, new AshaSettings(GracePeriod: 1, ReductionFactor: 2, MaxEpochs: 4));
        Report(asha, "a", 1, 0.10);
        Assert.Equal(Stop, Report(asha, "b", 1, double.NaN));
        Assert.Equal(double.NegativeInfinity, MinLoss.Score(double.NaN));
        Assert.Equal(-0.3, MinLoss.Score(0.3));
    }

    [Fact]
    public void A_skipped_epoch_reported_late_is_refused()
    {
        var asha = new AshaScheduler(MaxF1, new AshaSettings(GracePeriod: 1, ReductionFactor: 2, MaxEpochs: 9));
        Report(asha, "a", 1, 0.5);
        Report(asha, "a", 3, 0.5);
        var error = Assert.Throws<ArgumentException>(() => Report(asha, "a", 2, 0.5));
        Assert.Contains("trial a reported epoch 2, which it skipped, after epoch 3", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Report(asha, "a", 0, 0.5));
    }

    [Fact]
    public void The_median_rule_stops_a_trial_whose_best_is_below_the_median_of_the_others_running_means()
    {
        // Grace period 1 (judged from epoch 2 on), at least 2 other trials needed.
        var median = new MedianStoppingRule(MaxF1, new MedianStoppingSettings(GracePeriod: 1, MinSamplesRequired: 2, HardStop: true));
        foreach (var (epoch, value) in new[] { (1, 0.5), (2, 0.6), (3, 0.7) }) Assert.Equal(Continue, Report(median, "a", epoch, value));
        Assert.Equal(Continue, Report(median, "b", 1, 0.4));
        Assert.Equal(Continue, Report(median, "b", 2, 0.5)); // only a has reached epoch 2: too few to judge
        Assert.Equal(Continue, Report(median, "b", 3, 0.6));

        // Epoch 1 is the grace period: never judged, though a and b are both better here.
        Assert.Equal(Continue, Report(median, "c", 1, 0.3));
        // Means over epochs 1..2: a 0.55, b 0.45 → median 0.50; c's best is 0.35.
        Assert.Equal(Stop, Report(median, "c", 2, 0.35));

        Assert.Equal(Continue, Report(median, "d", 1, 0.9));
        // Means over epochs 1..2: a 0.55, b 0.45, c 0.325 → median 0.45. d's latest (0.2) is below it, its best (0.9) is not.
        Assert.Equal(Continue, Report(median, "d", 2, 0.2));
    }

    [Fact]
    public void Without_hard_stop_the_median_rule_pauses_once_and_the_resumed_trial_still_counts()
    {
        var median = new MedianStoppingRule(MaxF1, new MedianStoppingSettings(GracePeriod: 1, MinSamplesRequired: 2, HardStop: false));
        foreach (var (trial, values) in new[] { ("a", new[] { 0.5, 0.6, 0.7 }), ("b", new[] { 0.4, 0.5, 0.6 }) })
            for (var epoch = 1; epoch <= 3; epoch++) Report(median, trial, epoch, values[epoch - 1]);

        Assert.Equal(Continue, Report(median, "c", 1, 0.3));
        Assert.Equal(Pause, Report(median, "c", 2, 0.35));   // as in the hard-stop case, but paused
        Assert.Equal(Continue, Report(median, "c", 3, 0.1)); // resumed: never judged again

        Assert.Equal(Continue, Report(median, "e", 1, 0.52));
        Assert.Equal(Continue, Report(median, "e", 2, 0.44)); // means to epoch 2: 0.55, 0.45, 0.325 → median 0.45 ≤ 0.52
        // Means to epoch 3: a 0.6, b 0.5, c (0.3 + 0.35 + 0.1) / 3 = 0.25 → median 0.5 ≤ 0.52. Without c's resumed
        // result it would be the median of a and b, 0.55, and e would be paused.
        Assert.Equal(Continue, Report(median, "e", 3, 0.3));

        Assert.Equal(Continue, Report(median, "f", 1, 0.1));
        // Means to epoch 2: a 0.55, b 0.45, c 0.325, e 0.48 → median (0.45 + 0.48) / 2 = 0.465 > 0.1.
        Assert.Equal(Pause, Report(median, "f", 2, 0.1));
    }
}
