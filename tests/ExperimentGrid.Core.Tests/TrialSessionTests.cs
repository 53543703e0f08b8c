using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using ExperimentGrid.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace ExperimentGrid.Core.Tests;

/// <summary>
/// The one training loop, on fake trainables. The spec's hyperparameters sit at FakeObjective's optimum (quality 0.9),
/// so that without noise the F1 after epoch e is 0.9·(1 − 0.5^e): 0.45, 0.675, 0.7875.
/// </summary>
public sealed class TrialSessionTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("trial-session-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Root => Path.Combine(_directory, "checkpoints");

    private CheckpointFolder Attempt(int attempt) => new(Root, $"a{attempt}-");

    private static TrialSpec Spec(int epochs) =>
        new() { Epochs = epochs, LearningRate = 3e-5, BatchSize = 16, WeightDecay = 0.01, MaxLength = 32, TestSplit = "test" };

    private static FakeTrainableFactory Fakes(int stepsPerEpoch = 4) => new() { StepsPerEpoch = stepsPerEpoch, StepTime = _ => TimeSpan.Zero, Noise = 0 };

    private TrialSessionOptions Options(int checkpointEvery = 0, int attempt = 1, string? resumeFrom = null) => new()
    {
        ResumeFrom = resumeFrom,
        Checkpoints = Attempt(attempt),
        CheckpointEvery = checkpointEvery,
        ModelDirectory = Attempt(attempt).Entry("model"),
    };

    private static TrialSession Open(FakeTrainableFactory fakes, TrialSpec spec, TrialSessionOptions options) =>
        TrialSession.Open(spec, options, fakes.Create, NullLogger.Instance);

    private string[] Folder() => Names(Root);

    private static string[] Names(string directory) => [.. new DirectoryInfo(directory).GetDirectories().Select(d => d.Name).Order()];

    [Fact]
    public void Epochs_run_in_order_each_reported_after_its_steps_then_the_trial_is_evaluated_on_its_test_split()
    {
        var fakes = Fakes();
        var observer = new Recorder();
        using var session = Open(fakes, Spec(epochs: 2), Options());

        var result = session.Run(observer)!;

        Assert.Equal(
            ["step 1", "step 2", "step 3", "step 4", "epoch 1 at a1-step-4", "step 5", "step 6", "step 7", "step 8", "epoch 2 at a1-step-8", "completed"],
            observer.Events);
        Assert.Equal([0.45, 0.675], observer.Epochs.Select(e => Math.Round(e.Validation.Value(Metrics.EvaluationMetric.F1)!.Value, 12)));
        Assert.Equal(["test"], fakes.Created.Single().EvaluatedSplits);
        Assert.Equal(0.675, result.Test!.Value(Metrics.EvaluationMetric.F1)!.Value, 12);
        Assert.Same(result.Test, result.Final);
        Assert.Equal((2, 8), (result.EpochsTrained, result.GlobalStep));
        // A finished trial resumes no more: its model stays, its checkpoints go.
        Assert.Equal(Attempt(1).Entry("model"), result.ModelDirectory);
        Assert.True(File.Exists(Path.Combine(result.ModelDirectory!, FakeTrainable.ModelFile)));
        Assert.Equal(["a1-model"], Folder());
    }

    [Theory]
    [InlineData(5, 2, new[] { 2, 4, 6, 8, 12, 14 })] // 15 steps; 10 ends epoch 2
    [InlineData(4, 3, new[] { 3, 6, 9 })] // 12 steps; 12 ends epoch 3
    [InlineData(4, 4, new int[0])] // every multiple of 4 ends an epoch
    [InlineData(4, 0, new int[0])] // epoch ends only
    public void Checkpoints_within_epochs_come_every_N_steps_except_on_steps_that_end_an_epoch(int stepsPerEpoch, int every, int[] expected)
    {
        var observer = new Recorder();
        using var session = Open(Fakes(stepsPerEpoch), Spec(epochs: 3), Options(checkpointEvery: every));

        session.Run(observer);

        Assert.Equal(expected, observer.Checkpoints);
        Assert.Equal([stepsPerEpoch, 2 * stepsPerEpoch, 3 * stepsPerEpoch], observer.Epochs.Select(e => e.GlobalStep));
    }

    [Fact]
    public void Older_checkpoints_are_deleted_only_once_the_observer_accepts_a_new_one()
    {
        // What an earlier attempt left behind is deleted with the rest once this run's first checkpoint is accepted.
        Directory.CreateDirectory(Attempt(0).At(3));
        var observer = new Recorder { AcceptCheckpoint = step => step != 4 };
        using var session = Open(Fakes(stepsPerEpoch: 5), Spec(epochs: 1), Options(checkpointEvery: 2));

        session.Run(observer);

        string[][] offered =
        [
            ["a0-step-3", "a1-step-2"],
            // Step 4 is refused: step 2 stays the one to resume from, and nothing is deleted.
            ["a1-step-2", "a1-step-4"],
            ["a1-step-2", "a1-step-4", "a1-step-5"],
        ];
        Assert.Equal(offered, observer.FolderAtEachOffer);
        Assert.Equal(["a1-model"], Folder());
    }

    [Fact]
    public void A_run_that_loses_its_trial_at_a_checkpoint_stops_at_the_next_step_by_cancellation_and_deletes_nothing()
    {
        using var lost = new CancellationTokenSource();
        var observer = new Recorder
        {
            AcceptCheckpoint = step =>
            {
                if (step != 6) return true;
                lost.Cancel();
                return false;
            },
        };
        using var session = Open(Fakes(), Spec(epochs: 2), Options(checkpointEvery: 2));

        Assert.ThrowsAny<OperationCanceledException>(() => session.Run(observer, cancellation: lost.Token));

        Assert.Equal(["step 5", "step 6", "checkpoint 6"], observer.Events[^3..]);
        Assert.Equal(["a1-step-4", "a1-step-6"], Folder());
    }

    [Fact]
    public void A_run_told_at_an_epoch_end_that_it_lost_its_trial_ends_by_cancellation_without_a_result()
    {
        using var lost = new CancellationTokenSource();
        var observer = new Recorder
        {
            Decide = _ =>
            {
                lost.Cancel();
                throw new OperationCanceledException(lost.Token);
            },
        };
        var fakes = Fakes();
        using var session = Open(fakes, Spec(epochs: 2), Options());

        Assert.ThrowsAny<OperationCanceledException>(() => session.Run(observer, cancellation: lost.Token));

        Assert.Equal("epoch 1 at a1-step-4", observer.Events[^1]);
        Assert.Empty(fakes.Created.Single().EvaluatedSplits);
        Assert.Equal(["a1-step-4"], Folder());
    }

    [Fact]
    public void Stop_skips_the_remaining_epochs_and_still_evaluates_and_saves_the_model()
    {
        var fakes = Fakes();
        var observer = new Recorder { Decide = epoch => epoch.Epoch == 2 ? SchedulerDecision.Stop : SchedulerDecision.Continue };
        using var session = Open(fakes, Spec(epochs: 4), Options());

        var result = session.Run(observer)!;

        Assert.Equal(["epoch 1 at a1-step-4", "epoch 2 at a1-step-8", "completed"], observer.Events.Where(e => !e.StartsWith("step", StringComparison.Ordinal)));
        Assert.Equal((2, 8), (result.EpochsTrained, result.GlobalStep));
        Assert.Equal(0.675, result.Final.Value(Metrics.EvaluationMetric.F1)!.Value, 12);
        Assert.Equal(["test"], fakes.Created.Single().EvaluatedSplits);
        Assert.Equal(["a1-model"], Folder());
    }

    [Fact]
    public void Pause_ends_the_run_at_once_without_a_final_evaluation_and_keeps_its_checkpoints()
    {
        var fakes = Fakes();
        var observer = new Recorder { Decide = _ => SchedulerDecision.Pause };
        using var session = Open(fakes, Spec(epochs: 3), Options(checkpointEvery: 2));

        Assert.Null(session.Run(observer));

        Assert.Equal(["step 1", "step 2", "checkpoint 2", "step 3", "step 4", "epoch 1 at a1-step-4"], observer.Events);
        Assert.Empty(fakes.Created.Single().EvaluatedSplits);
        // The paused trial may already run elsewhere: its successor, not this run, clears the folder.
        Assert.Equal(["a1-step-2", "a1-step-4"], Folder());
    }

    [Theory]
    [InlineData(true, new[] { "a1-step-6" })]
    [InlineData(false, new[] { "a1-step-4", "a1-step-6" })]
    public void Draining_gives_the_trial_back_checkpointed_at_the_step_it_reached(bool taken, string[] left)
    {
        using var drain = new CancellationTokenSource();
        var fakes = Fakes();
        var observer = new Recorder
        {
            AfterStep = step =>
            {
                if (step == 6) drain.Cancel();
            },
            TakeBack = taken,
        };
        using var session = Open(fakes, Spec(epochs: 3), Options());

        Assert.Null(session.Run(observer, drain: drain.Token));

        Assert.Equal(["epoch 1 at a1-step-4", "step 5", "step 6", "given back at 6 with a1-step-6"], observer.Events[^4..]);
        Assert.Empty(fakes.Created.Single().EvaluatedSplits);
        Assert.Equal(left, Folder());
    }

    [Fact]
    public void A_lost_trial_is_dropped_and_not_given_back_even_when_the_run_is_drained_too()
    {
        using var drain = new CancellationTokenSource();
        using var lost = new CancellationTokenSource();
        var observer = new Recorder
        {
            AfterStep = step =>
            {
                if (step != 6) return;
                drain.Cancel();
                lost.Cancel();
            },
        };
        using var session = Open(Fakes(), Spec(epochs: 3), Options());

        Assert.ThrowsAny<OperationCanceledException>(() => session.Run(observer, drain: drain.Token, cancellation: lost.Token));

        Assert.Equal("step 6", observer.Events[^1]);
        Assert.Equal(["a1-step-4"], Folder());
    }

    [Fact]
    public void A_run_resumed_from_a_mid_epoch_checkpoint_goes_on_from_its_next_step_and_ends_as_an_uninterrupted_run_does()
    {
        // Noise on: a resumed run matches the uninterrupted one only if the checkpoint carried the generator's state.
        var fakes = new FakeTrainableFactory { StepsPerEpoch = 4, StepTime = _ => TimeSpan.Zero };
        TrialResult uninterrupted;
        var whole = new Recorder();
        using (var session = TrialSession.Open(Spec(epochs: 3), new TrialSessionOptions(), fakes.Create, NullLogger.Instance))
            uninterrupted = session.Run(whole)!;

        // The first run is drained just after its checkpoint at step 6 was accepted: it gives the trial back with no
        // new checkpoint, since the trial's is already at the step it reached.
        using var drain = new CancellationTokenSource();
        var first = new Recorder
        {
            AcceptCheckpoint = step =>
            {
                if (step == 6) drain.Cancel();
                return true;
            },
        };
        using (var session = Open(fakes, Spec(epochs: 3), Options(checkpointEvery: 3)))
            Assert.Null(session.Run(first, drain: drain.Token));
        Assert.Equal(["checkpoint 3", "step 4", "epoch 1 at a1-step-4", "step 5", "step 6", "checkpoint 6", "given back at 6 with none"], first.Events[^7..]);

        var second = new Recorder();
        TrialResult resumed;
        using (var session = Open(fakes, Spec(epochs: 3), Options(attempt: 2, resumeFrom: Attempt(1).At(6))))
            resumed = session.Run(second)!;

        Assert.Equal(7, second.Steps[0]);
        Assert.Equal([2, 3], second.Epochs.Select(e => e.Epoch));
        Assert.Equal((3, 12), (resumed.EpochsTrained, resumed.GlobalStep));
        Assert.Equal(uninterrupted.LossCurve, resumed.LossCurve);
        Assert.Equal(whole.Epochs.Skip(1).Select(Figures), second.Epochs.Select(Figures));
        Assert.Equal(["a2-model"], Folder());
    }

    private static (int Epoch, double TrainLoss, double? F1) Figures(EpochResult epoch) =>
        (epoch.Epoch, epoch.TrainLoss, epoch.Validation.Value(Metrics.EvaluationMetric.F1));

    [Fact]
    public void A_result_the_observer_refuses_leaves_no_model_and_its_checkpoints_to_the_run_that_holds_the_trial()
    {
        var observer = new Recorder { AcceptResult = false };
        using var session = Open(Fakes(), Spec(epochs: 1), Options());

        Assert.Null(session.Run(observer));

        Assert.Equal("completed", observer.Events[^1]);
        Assert.Equal(["a1-step-4"], Folder());
    }

    [Fact]
    public void Throughput_is_the_rate_of_the_whole_run_each_epoch_weighted_by_its_time()
    {
        // 4 steps of 8 examples an epoch, 10 ms a step in epoch 1 and 30 ms in epoch 2: 32 examples in 0.04 s (800/s),
        // then 32 in 0.12 s (266.67/s). The run trained 64 in 0.16 s: 400/s, where the mean of the two rates is 533.
        var fakes = new FakeTrainableFactory { StepsPerEpoch = 4, StepTime = epoch => TimeSpan.FromMilliseconds(epoch == 1 ? 10 : 30), Noise = 0 };
        using var session = TrialSession.Open(Spec(epochs: 2) with { BatchSize = 8 }, new TrialSessionOptions(), fakes.Create, NullLogger.Instance);

        var result = session.Run(new Recorder())!;

        Assert.Equal([800, 266.666666667], result.Epochs.Select(e => Math.Round(e.SamplesPerSecond, 9)));
        Assert.Equal(400, result.SamplesPerSecond, 9);
        Assert.Equal(400 * 32, result.TokensPerSecond, 6);
        Assert.True(result.WallSeconds >= 0.16, $"the run slept 0.16 s in its steps yet reports {result.WallSeconds:F3} s of wall time");
    }

    [Fact]
    public void A_NaN_loss_fails_the_run_as_the_real_trainer_does_and_nothing_is_reported_after_it()
    {
        var diverging = new FakeTrainableFactory { StepsPerEpoch = 4, StepTime = _ => TimeSpan.Zero, Faults = [FakeFault.NaNLoss(_ => true, step: 3)] };
        var observer = new Recorder();
        using var session = Open(diverging, Spec(epochs: 2), Options());

        var error = Assert.Throws<TrainingDivergedException>(() => session.Run(observer));

        Assert.StartsWith("loss became NaN at step 3 (epoch 1", error.Message);
        Assert.Equal(["step 1", "step 2"], observer.Events);
        Assert.False(Directory.Exists(Root), "a diverged run wrote a checkpoint or a model");
    }

    [Fact]
    public void Evaluate_measures_the_model_as_set_up_or_resumed_without_training_it()
    {
        var fakes = Fakes();
        using (var session = Open(fakes, Spec(epochs: 3), Options()))
        {
            Assert.Equal(0.0, session.Evaluate("test").Value(Metrics.EvaluationMetric.F1)!.Value);
            session.Run(new Recorder { Decide = _ => SchedulerDecision.Pause });
        }

        using var resumed = Open(fakes, Spec(epochs: 3), new TrialSessionOptions { ResumeFrom = Attempt(1).At(4) });
        Assert.Equal(0.45, resumed.Evaluate("validation").Value(Metrics.EvaluationMetric.F1)!.Value, 12);
        Assert.Equal(["validation"], fakes.Created[^1].EvaluatedSplits);
    }

    [Fact]
    public void A_trial_resumed_with_every_epoch_done_and_no_test_split_completes_with_its_last_validation_measured_again()
    {
        // As after a silo killed while saving the model: the last epoch's checkpoint was the trial's, the model not yet.
        var fakes = Fakes();
        var spec = Spec(epochs: 1) with { TestSplit = null };
        using (var session = Open(fakes, spec, Options()))
            session.Run(new Recorder { Decide = _ => SchedulerDecision.Pause });

        using var resumed = Open(fakes, spec, Options(attempt: 2, resumeFrom: Attempt(1).At(4)));
        var observer = new Recorder();
        var result = resumed.Run(observer);

        Assert.NotNull(result);
        Assert.Empty(result.Epochs);
        // 0.9·(1 − 0.5¹), the F1 the uninterrupted run's one epoch reported.
        Assert.Equal(0.45, result.Final.Value(Metrics.EvaluationMetric.F1)!.Value, 12);
        Assert.Equal(["validation"], fakes.Created[^1].EvaluatedSplits);
        Assert.Equal(["completed"], observer.Events);
        Assert.Equal(["a2-model"], Folder());
    }

    [Fact]
    public void A_checkpoint_within_an_epoch_that_cannot_be_written_is_skipped_its_partial_directory_removed_and_training_goes_on()
    {
        var observer = new Recorder { AfterStep = step => BlockCheckpoint(step, at: 4) };
        using var session = Open(Fakes(stepsPerEpoch: 6), Spec(epochs: 1), Options(checkpointEvery: 2));

        var result = session.Run(observer);

        Assert.NotNull(result);
        Assert.Equal(["checkpoint 2", "epoch 1 at a1-step-6", "completed"], observer.Events.Where(e => !e.StartsWith("step", StringComparison.Ordinal)));
        // Step 4's partial directory was gone before the epoch's checkpoint was offered.
        Assert.Equal([["a1-step-2"], ["a1-step-2", "a1-step-6"]], observer.FolderAtEachOffer);
        Assert.Equal(["a1-model"], Folder());
    }

    [Fact]
    public void An_epoch_checkpoint_that_cannot_be_written_is_reported_as_none_and_the_trial_keeps_resuming_from_the_one_before()
    {
        var observer = new Recorder { AfterStep = step => BlockCheckpoint(step, at: 8), Decide = epoch => epoch.Epoch == 2 ? SchedulerDecision.Pause : SchedulerDecision.Continue };
        using var session = Open(Fakes(), Spec(epochs: 3), Options());

        Assert.Null(session.Run(observer));

        Assert.Equal(["epoch 1 at a1-step-4", "epoch 2 at "], observer.Events.Where(e => e.StartsWith("epoch", StringComparison.Ordinal)));
        // Paused at epoch 2 without its checkpoint: epoch 1's is what a resume reads, and it is still there.
        Assert.Equal(["a1-step-4"], Folder());
    }

    /// <summary>
    /// Just before step <paramref name="at"/>'s checkpoint (after the older ones were pruned), a directory where its file
    /// goes: the write fails after the checkpoint's directory was made, as on a full disk.
    /// </summary>
    private void BlockCheckpoint(int step, int at)
    {
        if (step == at) Directory.CreateDirectory(Path.Combine(Attempt(1).At(at), FakeTrainable.CheckpointFile));
    }

    [Fact]
    public void A_checkpoint_that_cannot_be_loaded_fails_the_open_as_unreadable_naming_it()
    {
        var checkpoint = Directory.CreateDirectory(Attempt(1).At(4)).FullName;
        File.WriteAllText(Path.Combine(checkpoint, FakeTrainable.CheckpointFile), "{\"Seed\": 1, \"Glob");

        var error = Assert.Throws<UnreadableCheckpointException>(() => Open(Fakes(), Spec(epochs: 2), Options(attempt: 2, resumeFrom: checkpoint)));

        Assert.Equal(checkpoint, error.Checkpoint);
        // The trainable's own message, which the slot logs and hands to the trial grain.
        Assert.IsType<System.Text.Json.JsonException>(error.InnerException);
        Assert.Equal(error.InnerException.Message, error.Message);
    }

    /// <summary>Records what the session reports, as short lines, and answers as each test sets it to.</summary>
    private sealed class Recorder : ITrialObserver
    {
        public List<string> Events { get; } = [];
        public List<int> Steps { get; } = [];
        public List<int> Checkpoints { get; } = [];
        public List<EpochResult> Epochs { get; } = [];

        /// <summary>The checkpoint folder's directories each time the session offers a checkpoint, before the answer.</summary>
        public List<string[]> FolderAtEachOffer { get; } = [];

        public Func<EpochResult, SchedulerDecision> Decide { get; init; } = _ => SchedulerDecision.Continue;
        public Func<int, bool> AcceptCheckpoint { get; init; } = _ => true;
        public Action<int>? AfterStep { get; init; }
        public bool TakeBack { get; init; } = true;
        public bool AcceptResult { get; init; } = true;

        public void OnProgress(TrainingProgress progress)
        {
            Events.Add($"step {progress.Step}");
            Steps.Add(progress.Step);
            AfterStep?.Invoke(progress.Step);
        }

        public SchedulerDecision OnEpoch(EpochResult epoch, string? checkpoint)
        {
            Events.Add($"epoch {epoch.Epoch} at {Path.GetFileName(checkpoint)}");
            Epochs.Add(epoch);
            Offered(checkpoint);
            return Decide(epoch);
        }

        public bool OnCheckpoint(int globalStep, string checkpoint)
        {
            Events.Add($"checkpoint {globalStep}");
            Checkpoints.Add(globalStep);
            Offered(checkpoint);
            return AcceptCheckpoint(globalStep);
        }

        public bool OnCompleted(TrialResult result)
        {
            Events.Add("completed");
            return AcceptResult;
        }

        public bool OnGivenBack(int globalStep, string? checkpoint)
        {
            Events.Add($"given back at {globalStep} with {(checkpoint is null ? "none" : Path.GetFileName(checkpoint))}");
            return TakeBack;
        }

        private void Offered(string? checkpoint)
        {
            if (checkpoint is not null)
                FolderAtEachOffer.Add(Names(Path.GetDirectoryName(checkpoint)!));
        }
    }
}
