namespace ExperimentGrid.Core.Data;

public static class Subset
{
    /// <summary>
    /// A seeded random subset of <paramref name="limit"/> items in their original order (all of them when null).
    /// Random, not the first rows: rotten_tomatoes stores all positives before all negatives.
    /// </summary>
    public static IReadOnlyList<T> Random<T>(IReadOnlyList<T> items, int? limit, int seed)
    {
        if (limit is null || limit >= items.Count) return items;
        if (limit <= 0) throw new ArgumentOutOfRangeException(nameof(limit), limit, "a subset needs at least one item");
        var order = Enumerable.Range(0, items.Count).ToArray();
        new System.Random(seed).Shuffle(order);
        return [.. order.Take(limit.Value).Order().Select(i => items[i])];
    }
}
