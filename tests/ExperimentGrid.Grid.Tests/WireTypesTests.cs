using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;

namespace ExperimentGrid.Grid.Tests;

/// <summary>Core's types cross the wire and reach grain state as themselves, through the contracts' surrogates.</summary>
public sealed class WireTypesTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection()
        .AddSerializer(serializer => serializer.AddAssembly(typeof(TrialDefinition).Assembly))
        .BuildServiceProvider();

    public void Dispose() => _services.Dispose();

    /// <summary>A spec with every kind of field set away from its default: enums, a freeze depth, a list, nulls.</summary>
    private static readonly TrialSpec Spec = new()
    {
        Task = TaskKind.SetFit,
        Model = "/models/tuned",
        DataRoot = "/data",
        TestSplit = null,
        TrainLimit = 96,
        LabelNames = ["neg", "pos"],
        LearningRate = 3.5e-5,
        MicroBatchSize = 4,
        Freeze = FreezeDepth.Everything,
        Precision = ComputePrecision.Bf16,
        Tf32 = false,
        SamplesPerClass = 8,
    };

    private static readonly TrialDefinition Definition = new("sweep", "t007", Spec,
        [new Hyperparameter("learning_rate", "3.5e-5"), new Hyperparameter("freeze", "all")],
        new SweepObjective(EvaluationMetric.Perplexity, ObjectiveMode.Min), MaxAttempts: 2, Epochs: 3, CheckpointEvery: 50);

    [Fact]
    public void A_trial_definition_round_trips_with_its_spec_objective_and_hyperparameters()
    {
        var serializer = _services.GetRequiredService<Serializer>();

        var back = serializer.Deserialize<TrialDefinition>(serializer.SerializeToArray(Definition))!;

        Assert.Equal(Spec, back.Spec with { LabelNames = Spec.LabelNames });
        Assert.Equal(Spec.LabelNames, back.Spec.LabelNames!);
        Assert.Equal(Definition.Objective, back.Objective);
        Assert.Equal(Definition.Hyperparameters, back.Hyperparameters);
        Assert.Equal((2, 3, 50), (back.MaxAttempts, back.Epochs, back.CheckpointEvery));
    }

    [Fact]
    public void Progress_metrics_and_reports_round_trip()
    {
        var serializer = _services.GetRequiredService<Serializer>();
        var progress = new TrainingProgress(2, 3, 17, 24, 0.4375, 1.5e-5, 88.5, 11_328, TimeSpan.FromSeconds(12.25), 8);
        var snapshot = new TrialSnapshot(Definition, TrialStatus.Running, 2, "silo cpu:0", progress,
            [new MetricValue(EvaluationMetric.Loss, 2.5), new MetricValue(EvaluationMetric.Perplexity, 12.182)], "/checkpoints/a2-step-16", 8, null, null, 16);
        var report = new TrialReport("t007", 2, 12.182);

        var snapshotBack = serializer.Deserialize<TrialSnapshot>(serializer.SerializeToArray(snapshot))!;
        var reportBack = serializer.Deserialize<TrialReport>(serializer.SerializeToArray(report));

        Assert.Equal(progress, snapshotBack.Progress);
        Assert.Equal(snapshot.LastEval, snapshotBack.LastEval);
        Assert.Equal(report, reportBack);
    }

    [Fact]
    public void Grain_state_holding_core_types_is_stored_by_the_same_serializer()
    {
        var storage = new OrleansGrainStorageSerializer(_services.GetRequiredService<Serializer>());

        var back = storage.Deserialize<TrialDefinition>(storage.Serialize(Definition))!;

        Assert.Equal(Definition.Spec.Freeze, back.Spec.Freeze);
        Assert.Equal(Definition.Spec.Precision, back.Spec.Precision);
        Assert.Equal(Definition.Objective, back.Objective);
    }
}
