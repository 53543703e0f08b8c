using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Grains.Trials;

/// <summary>
/// A trial's training loss by step, bounded whatever the trial's length: at most <see cref="Capacity"/> points, the
/// first and the latest always among them and the rest spread evenly over the steps. A point is kept when it lies at
/// least <see cref="Stride"/> steps past the last kept one; until then it is only the latest. When the kept points fill
/// up, every other one is dropped and the stride doubles, so the curve thins out evenly as the trial goes on.
/// </summary>
[GenerateSerializer]
public sealed class LossCurve
{
    /// <summary>Enough for a chart a screen wide; each point is written with the trial's state.</summary>
    public const int DefaultCapacity = 500;

    /// <summary>The sampled points, the first included, fewer than <see cref="Capacity"/>.</summary>
    [Id(0)] public List<LossPoint> Kept { get; set; } = [];

    [Id(1)] public int Stride { get; set; } = 1;

    /// <summary>The newest point, while it is too close to the last kept one to be kept itself.</summary>
    [Id(2)] public LossPoint? Latest { get; set; }

    [Id(3)] public int Capacity { get; set; } = DefaultCapacity;

    public IReadOnlyList<LossPoint> Points => Latest is { } latest ? [.. Kept, latest] : [.. Kept];

    /// <summary>
    /// Adds the loss at a step. A step not past the newest point is ignored: heartbeats repeat a step while a slow one
    /// trains, and a resumed attempt's steps start over only after <see cref="TruncateAfter"/>.
    /// </summary>
    public void Add(LossPoint point)
    {
        if ((Latest ?? (Kept.Count > 0 ? Kept[^1] : null)) is { } newest && point.Step <= newest.Step) return;
        if (Kept.Count > 0 && point.Step - Kept[^1].Step < Stride)
        {
            Latest = point;
            return;
        }
        Kept.Add(point);
        Latest = null;
        if (Kept.Count < Capacity) return;
        var dropped = Kept.Count % 2 == 0;
        Kept = [.. Kept.Where((_, i) => i % 2 == 0)];
        Stride *= 2;
        // The point just added may be among those dropped; it stays as the latest.
        if (dropped) Latest = point;
    }

    /// <summary>Forgets the points after <paramref name="step"/>: an attempt that resumes from there trains them again.</summary>
    public void TruncateAfter(int step)
    {
        Kept.RemoveAll(p => p.Step > step);
        if (Latest?.Step > step) Latest = null;
    }
}
