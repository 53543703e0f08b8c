using ExperimentGrid.Client.Commands;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Client.Tests;

/// <summary>The ETA the sweep commands show, per trial and per sweep, against values worked out by hand.</summary>
public sealed class SweepEtaTests
{
    [Fact]
    public void A_trial_s_ETA_is_this_epoch_s_time_per_step_times_the_steps_left()
    {
        // Epoch 2 of 3, 4 steps an epoch: step 6 is this epoch's second, 4 s for 2 steps; 6 steps left at 2 s.
        var progress = Progress(epoch: 2, epochs: 3, step: 6, totalSteps: 12, seconds: 4);

        Assert.Equal(TimeSpan.FromSeconds(2), progress.StepTime());
        Assert.Equal(TimeSpan.FromSeconds(12), progress.EstimatedRemaining());
        Assert.Null(Progress(epoch: 2, epochs: 3, step: 4, totalSteps: 12, seconds: 0).EstimatedRemaining());
    }

    [Fact]
    public void A_sweep_s_ETA_shares_what_its_running_trials_and_its_waiting_ones_have_left_among_the_running_slots()
    {
        // t001: 2 s a step, 12 s left of a 24 s trial; t002: 3 s a step, 9 of 10 steps left (27 s) of a 30 s trial.
        // Waiting: t003 (pending) and 2 configurations not suggested (5 in the space): 3 trials of 27 s each, the mean.
        // (12 + 27 + 3 * 27) / 2 running = 60 s, more than the longest running trial's 27 s.
        var sweep = Sweep(SweepStatus.Running, spaceSize: 5,
            Trial("t001", TrialStatus.Running, Progress(epoch: 2, epochs: 3, step: 6, totalSteps: 12, seconds: 4)),
            Trial("t002", TrialStatus.Running, Progress(epoch: 1, epochs: 1, step: 1, totalSteps: 10, seconds: 3)),
            Trial("t003", TrialStatus.Pending));

        Assert.Equal(TimeSpan.FromSeconds(60), sweep.EstimatedRemaining());
    }

    [Fact]
    public void A_sweep_s_ETA_is_at_least_its_longest_running_trial_s_and_none_before_a_step_is_timed()
    {
        var last = Sweep(SweepStatus.Running, spaceSize: 2,
            Trial("t001", TrialStatus.Completed),
            Trial("t002", TrialStatus.Running, Progress(epoch: 1, epochs: 1, step: 2, totalSteps: 10, seconds: 10)));
        var loading = Sweep(SweepStatus.Running, spaceSize: 1, Trial("t001", TrialStatus.Running));

        // 5 s a step, 8 steps left.
        Assert.Equal(TimeSpan.FromSeconds(40), last.EstimatedRemaining());
        Assert.Null(loading.EstimatedRemaining());
        Assert.Null((last with { Status = SweepStatus.Finished }).EstimatedRemaining());
    }

    [Theory]
    [InlineData(0.2, "1s")]
    [InlineData(45, "45s")]
    [InlineData(725, "12m05s")]
    [InlineData(11_220, "3h07m")]
    public void Durations_read_at_a_glance(double seconds, string shown) => Assert.Equal(shown, SweepCommand.Duration(TimeSpan.FromSeconds(seconds)));

    [Theory]
    [InlineData(TaskKind.TextClassification, "grid predict --model /m/t001 \"")]
    [InlineData(TaskKind.SetFit, "grid predict --model /m/t001 \"")]
    [InlineData(TaskKind.TokenClassification, "grid ner --model /m/t001 \"")]
    [InlineData(TaskKind.MaskedLm, "grid fill-mask --model /m/t001 \"")]
    public void The_best_model_is_served_by_its_task_s_command(TaskKind task, string start) =>
        Assert.StartsWith(start, SweepCommand.ServeCommand(task, "/m/t001"), StringComparison.Ordinal);

    private static TrainingProgress Progress(int epoch, int epochs, int step, int totalSteps, double seconds) =>
        new(epoch, epochs, step, totalSteps, 0.5, 2e-5, 10, 1000, TimeSpan.FromSeconds(seconds), 8);

    private static SweepTrialView Trial(string id, TrialStatus status, TrainingProgress? progress = null) =>
        new(id, status, [new Hyperparameter("learning_rate", "2e-5")], status == TrialStatus.Pending ? 0 : 1, null, progress, null, null);

    private static SweepSnapshot Sweep(SweepStatus status, int spaceSize, params SweepTrialView[] trials) =>
        new("s", "s", status, new SweepObjective(Core.Metrics.EvaluationMetric.F1, ObjectiveMode.Max), null, trials, DateTimeOffset.UnixEpoch, spaceSize);
}
