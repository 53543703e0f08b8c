using System.Diagnostics.Metrics;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Runtime.Slots;

namespace ExperimentGrid.Runtime;

/// <summary>
/// The grid's one meter. Every ExperimentGrid instrument is created on <see cref="Meter"/>, with a unit, so that the
/// silo's Prometheus exporter (which listens to <see cref="MeterName"/>) publishes them all. The instruments are
/// observable: each scrape reads the current state, so a finished trial's series simply stop being reported.
/// </summary>
public sealed class GridMetrics
{
    public const string MeterName = "ExperimentGrid";

    public GridMetrics(IMeterFactory meters, SlotActivity slots, GridView view)
    {
        // From the factory rather than static: each host's meter is disposed with it, so a silo stopped and started
        // again in one process (the CLI's in-process silo, tests) does not leave its instruments behind.
        Meter = meters.Create(MeterName);
        Meter.CreateObservableGauge(
            "experimentgrid.silo.slots",
            () => slots.Slots.All.GroupBy(s => s.KindName).Select(g => new Measurement<int>(g.Count(), Tag("kind", g.Key))),
            unit: "{slot}",
            description: "Training slots this silo declares, by kind.");
        Meter.CreateObservableGauge(
            "experimentgrid.silo.slots.busy",
            () => slots.Slots.All.GroupBy(s => s.Kind).Select(g => new Measurement<int>(slots.Busy(g.Key), Tag("kind", g.First().KindName))),
            unit: "{slot}",
            description: "This silo's slots running a trial, by kind.");
        Meter.CreateObservableGauge(
            "experimentgrid.silo.slots.free",
            () => slots.Slots.All.GroupBy(s => s.Kind).Select(g => new Measurement<int>(g.Count() - slots.Busy(g.Key), Tag("kind", g.First().KindName))),
            unit: "{slot}",
            description: "This silo's slots waiting for a trial, by kind.");
        Meter.CreateObservableGauge(
            "experimentgrid.trial.loss",
            () => slots.Running.Where(t => t.Progress is not null).Select(t => new Measurement<double>(t.Progress!.Loss, TrialTags(t))),
            unit: "{loss}",
            description: "Training loss of the latest optimizer step of each trial running on this silo.");
        Meter.CreateObservableGauge(
            "experimentgrid.trial.throughput",
            () => slots.Running.Where(t => t.Progress is not null).Select(t => new Measurement<double>(t.Progress!.SamplesPerSecond, TrialTags(t))),
            unit: "{sample}/s",
            description: "Training samples per second of each trial running on this silo.");
        Meter.CreateObservableGauge(
            "experimentgrid.trial.eval",
            () => slots.Running.Where(t => t.LastEval is not null).Select(t => new Measurement<double>(t.LastEval!.Value, [.. TrialTags(t), Tag("metric", EvaluationMetrics.Name(t.Metric))])),
            unit: "{score}",
            description: "The sweep's objective metric at the last evaluation of each trial running on this silo.");
        Meter.CreateObservableGauge(
            "experimentgrid.sweep.trials",
            () => view.Sweeps.SelectMany(s => s.TrialsByState.Select(c => new Measurement<int>(c.Value, Tag("sweep", s.SweepId), Tag("state", c.Key.ToString().ToLowerInvariant())))),
            unit: "{trial}",
            description: "Each sweep's trials by state, across the cluster.");
        Meter.CreateObservableGauge(
            "experimentgrid.sweep.best_objective",
            () => view.Sweeps.Where(s => s.Best is not null).Select(s => new Measurement<double>(s.Best!.Value, Tag("sweep", s.SweepId), Tag("metric", s.Metric))),
            unit: "{score}",
            description: "The best objective on the leaderboard of each sweep, across the cluster.");
    }

    public Meter Meter { get; }

    private static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);

    private static KeyValuePair<string, object?>[] TrialTags(RunningTrial trial) => [Tag("sweep", trial.SweepId), Tag("trial", trial.TrialId)];
}
