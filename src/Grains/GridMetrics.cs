using System.Diagnostics.Metrics;

namespace ExperimentGrid.Grains;

/// <summary>
/// The grid's one meter. Every ExperimentGrid instrument is created on <see cref="Meter"/>, with a unit, so that the
/// silo's Prometheus exporter (which listens to <see cref="MeterName"/>) publishes them all.
/// </summary>
public sealed class GridMetrics
{
    public const string MeterName = "ExperimentGrid";

    public GridMetrics(IMeterFactory meters, SiloSlots slots)
    {
        // From the factory rather than static: each host's meter is disposed with it, so a silo stopped and started
        // again in one process (the CLI's in-process silo, tests) does not leave its instruments behind.
        Meter = meters.Create(MeterName);
        Meter.CreateObservableGauge(
            "experimentgrid.silo.slots",
            () => slots.All.GroupBy(s => s.KindName).Select(g => new Measurement<int>(g.Count(), new KeyValuePair<string, object?>("kind", g.Key))),
            unit: "{slot}",
            description: "Training slots this silo declares, by kind.");
    }

    public Meter Meter { get; }
}
