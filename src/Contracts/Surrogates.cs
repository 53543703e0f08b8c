using System.Text.Json;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Contracts;

// Core has no Orleans, so its types carry no [GenerateSerializer]; these surrogates carry them across the wire and
// into grain state as themselves. Core's enums need none: Orleans encodes any enum by value. Ids are never renumbered.

/// <summary>
/// A trial's spec as the JSON that metrics.json and `grid train` write: one durable form, keyed by field name, so a
/// field added to TrialSpec needs no change here and state written before it still reads.
/// </summary>
[GenerateSerializer, Immutable]
public readonly record struct TrialSpecSurrogate([property: Id(0)] string Json);

[RegisterConverter]
public sealed class TrialSpecConverter : IConverter<TrialSpec, TrialSpecSurrogate>
{
    public TrialSpec ConvertFromSurrogate(in TrialSpecSurrogate surrogate) =>
        JsonSerializer.Deserialize<TrialSpec>(surrogate.Json, TrialRunner.Json) ?? throw new JsonException("a null trial spec");

    public TrialSpecSurrogate ConvertToSurrogate(in TrialSpec value) => new(JsonSerializer.Serialize(value, TrialRunner.Json));
}

[GenerateSerializer, Immutable]
public readonly record struct SweepObjectiveSurrogate([property: Id(0)] EvaluationMetric Metric, [property: Id(1)] ObjectiveMode Mode);

[RegisterConverter]
public sealed class SweepObjectiveConverter : IConverter<SweepObjective, SweepObjectiveSurrogate>
{
    public SweepObjective ConvertFromSurrogate(in SweepObjectiveSurrogate surrogate) => new(surrogate.Metric, surrogate.Mode);

    public SweepObjectiveSurrogate ConvertToSurrogate(in SweepObjective value) => new(value.Metric, value.Mode);
}

[GenerateSerializer, Immutable]
public readonly record struct MetricValueSurrogate([property: Id(0)] EvaluationMetric Metric, [property: Id(1)] double Value);

[RegisterConverter]
public sealed class MetricValueConverter : IConverter<MetricValue, MetricValueSurrogate>
{
    public MetricValue ConvertFromSurrogate(in MetricValueSurrogate surrogate) => new(surrogate.Metric, surrogate.Value);

    public MetricValueSurrogate ConvertToSurrogate(in MetricValue value) => new(value.Metric, value.Value);
}

[GenerateSerializer, Immutable]
public readonly record struct HyperparameterSurrogate([property: Id(0)] string Field, [property: Id(1)] string Value);

[RegisterConverter]
public sealed class HyperparameterConverter : IConverter<Hyperparameter, HyperparameterSurrogate>
{
    public Hyperparameter ConvertFromSurrogate(in HyperparameterSurrogate surrogate) => new(surrogate.Field, surrogate.Value);

    public HyperparameterSurrogate ConvertToSurrogate(in Hyperparameter value) => new(value.Field, value.Value);
}

[GenerateSerializer, Immutable]
public readonly record struct TrialReportSurrogate([property: Id(0)] string TrialId, [property: Id(1)] int Epoch, [property: Id(2)] double Objective);

[RegisterConverter]
public sealed class TrialReportConverter : IConverter<TrialReport, TrialReportSurrogate>
{
    public TrialReport ConvertFromSurrogate(in TrialReportSurrogate surrogate) => new(surrogate.TrialId, surrogate.Epoch, surrogate.Objective);

    public TrialReportSurrogate ConvertToSurrogate(in TrialReport value) => new(value.TrialId, value.Epoch, value.Objective);
}

[GenerateSerializer, Immutable]
public readonly record struct TrainingProgressSurrogate(
    [property: Id(0)] int Epoch,
    [property: Id(1)] int Epochs,
    [property: Id(2)] int Step,
    [property: Id(3)] int TotalSteps,
    [property: Id(4)] double Loss,
    [property: Id(5)] double LearningRate,
    [property: Id(6)] double SamplesPerSecond,
    [property: Id(7)] double TokensPerSecond,
    [property: Id(8)] TimeSpan Elapsed,
    [property: Id(9)] int MicroBatchSize);

[RegisterConverter]
public sealed class TrainingProgressConverter : IConverter<TrainingProgress, TrainingProgressSurrogate>
{
    public TrainingProgress ConvertFromSurrogate(in TrainingProgressSurrogate s) =>
        new(s.Epoch, s.Epochs, s.Step, s.TotalSteps, s.Loss, s.LearningRate, s.SamplesPerSecond, s.TokensPerSecond, s.Elapsed, s.MicroBatchSize);

    public TrainingProgressSurrogate ConvertToSurrogate(in TrainingProgress v) =>
        new(v.Epoch, v.Epochs, v.Step, v.TotalSteps, v.Loss, v.LearningRate, v.SamplesPerSecond, v.TokensPerSecond, v.Elapsed, v.MicroBatchSize);
}

/// <summary>A freeze depth as trial files write it: a layer count or "all".</summary>
[GenerateSerializer, Immutable]
public readonly record struct FreezeDepthSurrogate([property: Id(0)] string Text);

[RegisterConverter]
public sealed class FreezeDepthConverter : IConverter<FreezeDepth, FreezeDepthSurrogate>
{
    public FreezeDepth ConvertFromSurrogate(in FreezeDepthSurrogate surrogate) => FreezeDepth.Parse(surrogate.Text);

    public FreezeDepthSurrogate ConvertToSurrogate(in FreezeDepth value) => new(value.ToString());
}

[GenerateSerializer, Immutable]
public readonly record struct LossPointSurrogate([property: Id(0)] int Step, [property: Id(1)] double Loss);

[RegisterConverter]
public sealed class LossPointConverter : IConverter<LossPoint, LossPointSurrogate>
{
    public LossPoint ConvertFromSurrogate(in LossPointSurrogate surrogate) => new(surrogate.Step, surrogate.Loss);

    public LossPointSurrogate ConvertToSurrogate(in LossPoint value) => new(value.Step, value.Loss);
}
