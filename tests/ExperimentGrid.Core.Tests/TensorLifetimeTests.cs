using ExperimentGrid.Core.Trials;
using ExperimentGrid.Core.Training;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;

namespace ExperimentGrid.Core.Tests;

/// <summary>
/// After setup, every tensor a trial makes belongs to a dispose scope. A tensor that belongs to none is freed by the
/// garbage collector's finalizer thread, and TorchSharp does not keep a tensor alive across its own native calls: a
/// temporary such as the one in <c>value.detach().cpu()</c> can be finalized while libtorch still reads it. That is
/// what killed silo processes with SIGSEGV in <c>at::_ops::to_dtype_layout::call</c> (issue 11); a scope holds its
/// tensors until it ends, on the thread that made them. TorchSharp counts, per thread, the tensors made outside any
/// scope, so these tests see any that a change lets out.
/// </summary>
[Collection(ModelCollection.Name)]
public sealed class TensorLifetimeTests(ModelFixture models) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tensor-lifetime-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    public static TheoryData<TaskKind> Tasks => [TaskKind.TextClassification, TaskKind.TokenClassification, TaskKind.MaskedLm, TaskKind.SetFit];

    private TrialSpec Spec(TaskKind task) => new()
    {
        Task = task,
        Model = models.MiniLmDirectory,
        Dataset = task == TaskKind.TokenClassification ? "conll2003" : "rotten_tomatoes",
        TrainLimit = 8,
        SamplesPerClass = task == TaskKind.SetFit ? 4 : null,
        Iterations = 1,
        EvalLimit = 8,
        TestSplit = "test",
        MaxLength = 16,
        BatchSize = 4,
        Epochs = 2,
        LabelNames = task == TaskKind.SetFit ? ["neg", "pos"] : null,
        Device = "cpu",
    };

    private static long MadeOutsideScopes => DisposeScopeManager.Statistics.TensorStatistics.CreatedOutsideScopeCount;

    private TrialSessionOptions Options(string run, string? resumeFrom = null) => new()
    {
        ResumeFrom = resumeFrom,
        Checkpoints = new CheckpointFolder(Path.Combine(_directory, run)),
        CheckpointEvery = 1,
        ModelDirectory = Path.Combine(_directory, run, "model"),
    };

    [Theory]
    [MemberData(nameof(Tasks))]
    public void A_trial_makes_no_tensor_outside_a_scope_after_setup(TaskKind task)
    {
        using var session = TrialSession.Open(Spec(task), Options(task.ToString()), TrialRunner.Create, NullLogger.Instance);
        var before = MadeOutsideScopes;

        // Steps, a checkpoint after each, evaluations after each epoch and on the test split, and the model saved.
        var observer = new Checkpoints();
        var result = session.Run(observer);

        Assert.NotNull(result);
        Assert.NotEmpty(observer.Written);
        Assert.Equal(0, MadeOutsideScopes - before);
    }

    [Theory]
    [MemberData(nameof(Tasks))]
    public void Loading_a_checkpoint_makes_no_tensor_outside_a_scope(TaskKind task)
    {
        // Refusing the result keeps the checkpoints, as for a run that lost its trial.
        var observer = new Checkpoints { AcceptResult = false };
        using (var first = TrialSession.Open(Spec(task) with { Epochs = 1 }, Options("first"), TrialRunner.Create, NullLogger.Instance))
            first.Run(observer);
        using var trainable = TrialRunner.Create(Spec(task), NullLogger.Instance, progress: null);
        trainable.Setup();
        var before = MadeOutsideScopes;

        trainable.LoadCheckpoint(observer.Written[^1]);

        Assert.Equal(0, MadeOutsideScopes - before);
    }

    /// <summary>Accepts every checkpoint, and keeps their paths.</summary>
    private sealed class Checkpoints : ITrialObserver
    {
        public List<string> Written { get; } = [];

        public bool AcceptResult { get; init; } = true;

        public void OnProgress(TrainingProgress progress) { }

        public bool OnCheckpoint(int globalStep, string checkpoint)
        {
            Written.Add(checkpoint);
            return true;
        }

        public Core.Sweeps.SchedulerDecision OnEpoch(EpochResult epoch, string? checkpoint)
        {
            if (checkpoint is not null) Written.Add(checkpoint);
            return Core.Sweeps.SchedulerDecision.Continue;
        }

        public bool OnGivenBack(int globalStep, string? checkpoint) => true;

        public bool OnCompleted(TrialResult result) => AcceptResult;
    }
}
