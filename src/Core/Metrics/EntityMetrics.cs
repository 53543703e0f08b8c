namespace ExperimentGrid.Core.Metrics;

/// <summary>An entity span over a tag sequence: its type and the [Start, End] tag positions, inclusive.</summary>
public readonly record struct EntitySpan(string Type, int Start, int End);

/// <summary>
/// Entity-level metrics as seqeval computes them for IOB2 in its default mode: entities are extracted from each
/// sequence, and a predicted entity counts only if its type and both boundaries match a reference entity. Precision,
/// recall and F1 are micro-averaged over all entities; accuracy is per tag.
/// </summary>
public sealed record EntityMetrics(
    int Examples,
    double Accuracy,
    double F1,
    double Precision,
    double Recall,
    double Loss,
    IReadOnlyDictionary<string, double> F1PerType) : EvaluationMetrics(Examples, Loss)
{
    public override IReadOnlyList<MetricValue> Values() =>
    [
        new(EvaluationMetric.F1, F1), new(EvaluationMetric.Precision, Precision), new(EvaluationMetric.Recall, Recall),
        new(EvaluationMetric.Accuracy, Accuracy), new(EvaluationMetric.Loss, Loss),
    ];

    public static EntityMetrics Compute(IReadOnlyList<IReadOnlyList<string>> predictions, IReadOnlyList<IReadOnlyList<string>> references, double meanLoss)
    {
        if (predictions.Count != references.Count) throw new ArgumentException($"{predictions.Count} predicted sequences for {references.Count} references.");
        var predicted = new HashSet<(int, EntitySpan)>();
        var actual = new HashSet<(int, EntitySpan)>();
        long tags = 0, correctTags = 0;
        for (var s = 0; s < predictions.Count; s++)
        {
            if (predictions[s].Count != references[s].Count)
                throw new ArgumentException($"sequence {s}: {predictions[s].Count} predicted tags for {references[s].Count} reference tags.");
            foreach (var span in Entities(predictions[s])) predicted.Add((s, span));
            foreach (var span in Entities(references[s])) actual.Add((s, span));
            tags += references[s].Count;
            correctTags += predictions[s].Zip(references[s]).Count(p => p.First == p.Second);
        }
        var types = actual.Select(e => e.Item2.Type).Concat(predicted.Select(e => e.Item2.Type)).Distinct().Order(StringComparer.Ordinal);
        var perType = types.ToDictionary(t => t, t => Score(predicted.Where(e => e.Item2.Type == t).ToHashSet(), actual.Where(e => e.Item2.Type == t).ToHashSet()).F1);
        var (precision, recall, f1) = Score(predicted, actual);
        return new EntityMetrics(predictions.Count, tags == 0 ? 0 : (double)correctTags / tags, f1, precision, recall, meanLoss, perType);
    }

    private static (double Precision, double Recall, double F1) Score(HashSet<(int, EntitySpan)> predicted, HashSet<(int, EntitySpan)> actual)
    {
        var hits = predicted.Count(actual.Contains);
        var precision = predicted.Count == 0 ? 0 : (double)hits / predicted.Count;
        var recall = actual.Count == 0 ? 0 : (double)hits / actual.Count;
        return (precision, recall, precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall));
    }

    /// <summary>
    /// seqeval's chunking for IOB2 (default, lenient mode): an entity starts at B-, or at an I- that follows O or a
    /// different type; it ends before O, before a B-, or before a tag of another type.
    /// </summary>
    public static IReadOnlyList<EntitySpan> Entities(IReadOnlyList<string> tags)
    {
        var spans = new List<EntitySpan>();
        var (prefix, type, start) = ('O', "", -1);
        for (var i = 0; i <= tags.Count; i++)
        {
            var tag = i < tags.Count ? tags[i] : "O";
            var (currentPrefix, currentType) = tag == "O" || tag.Length < 3 ? ('O', "") : (tag[0], tag[2..]);
            var endsHere = prefix != 'O' && (currentPrefix is 'O' or 'B' || currentType != type);
            if (endsHere) spans.Add(new EntitySpan(type, start, i - 1));
            var startsHere = currentPrefix == 'B' || (currentPrefix == 'I' && (prefix == 'O' || currentType != type));
            if (startsHere) start = i;
            (prefix, type) = (currentPrefix, currentType);
        }
        return spans;
    }
}
