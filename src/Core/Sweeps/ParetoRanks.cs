namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// Non-dominated sorting: rank 1 is the Pareto front, the points that no other point dominates (at least as good on
/// every objective and better on one); rank 2 is the front once rank 1 is taken away, and so on. Equal points share a
/// rank. A point with a NaN value on any objective ranks after all the others, alone or with other such points: an
/// undefined metric has not earned a place on a front.
/// </summary>
public static class ParetoRanks
{
    /// <param name="points">Each point's values, one per objective, in the objectives' order.</param>
    /// <param name="objectives">Whether each value is maximised or minimised.</param>
    public static IReadOnlyList<int> Of(IReadOnlyList<IReadOnlyList<double>> points, IReadOnlyList<SweepObjective> objectives)
    {
        if (objectives.Count == 0) throw new ArgumentException("no objectives to rank by.", nameof(objectives));
        for (var i = 0; i < points.Count; i++)
            if (points[i].Count != objectives.Count)
                throw new ArgumentException($"point {i} has {points[i].Count} values for {objectives.Count} objectives.", nameof(points));

        var scores = points.Select(p => p.Select((v, o) => objectives[o].Score(v)).ToArray()).ToArray();
        var ranks = new int[points.Count];
        var remaining = Enumerable.Range(0, points.Count).Where(i => !points[i].Any(double.IsNaN)).ToList();
        var rank = 0;
        while (remaining.Count > 0)
        {
            rank++;
            var front = remaining.Where(i => !remaining.Exists(j => Dominates(scores[j], scores[i]))).ToList();
            foreach (var i in front) ranks[i] = rank;
            remaining.RemoveAll(front.Contains);
        }
        for (var i = 0; i < points.Count; i++)
            if (points[i].Any(double.IsNaN)) ranks[i] = rank + 1;
        return ranks;
    }

    private static bool Dominates(double[] a, double[] b)
    {
        var better = false;
        for (var o = 0; o < a.Length; o++)
        {
            if (a[o] < b[o]) return false;
            if (a[o] > b[o]) better = true;
        }
        return better;
    }
}
