using ExperimentGrid.Core.Data;

namespace ExperimentGrid.Core.SetFit;

/// <summary>A pair by index into the sampled examples, and its target similarity.</summary>
public readonly record struct IndexPair(int First, int Second, float Target);

/// <summary>SetFit's data steps: a few labelled examples per class, contrastive pairs over them, or label-name templates.</summary>
public static class SetFitData
{
    /// <summary>SetFit's default zero-shot template and copies per label (get_templated_dataset's sample_size).</summary>
    public const string ZeroShotTemplate = "This sentence is {0}";
    public const int ZeroShotCopiesPerLabel = 2;

    /// <summary>
    /// Up to <paramref name="perClass"/> examples of each class, drawn by a seeded shuffle, in class order. A class with
    /// fewer examples gives all it has, as SetFit's sample_dataset does.
    /// </summary>
    public static IReadOnlyList<TextExample> Sample(IReadOnlyList<TextExample> examples, int perClass, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perClass);
        var order = Enumerable.Range(0, examples.Count).ToArray();
        new Random(seed).Shuffle(order);
        return [.. order.Select(i => examples[i]).GroupBy(e => e.Label).OrderBy(g => g.Key).SelectMany(g => g.Take(perClass))];
    }

    /// <summary>
    /// <see cref="Sample"/>, refusing a sample that misses a class: a classifier cannot learn a class it never sees,
    /// and its metrics would hide that.
    /// </summary>
    public static IReadOnlyList<TextExample> SampleEveryClass(IReadOnlyList<TextExample> examples, int perClass, int seed, IReadOnlyList<string> labels, string path)
    {
        var sampled = Sample(examples, perClass, seed);
        foreach (var missing in Enumerable.Range(0, labels.Count).Where(c => sampled.All(e => e.Label != c)))
            throw new DatasetException($"{path}: class {missing} ({labels[missing]}) has no example to sample.");
        return sampled;
    }

    /// <summary>Examples made from the label names alone, for training with no labelled data.</summary>
    public static IReadOnlyList<TextExample> ZeroShot(IReadOnlyList<string> labelNames) =>
        [.. labelNames.SelectMany((name, label) => Enumerable.Repeat(new TextExample(string.Format(System.Globalization.CultureInfo.InvariantCulture, ZeroShotTemplate, name), label, 0), ZeroShotCopiesPerLabel))];

    /// <summary>
    /// SetFit's pairs: in every iteration, each example is paired once with a random other example of its own class
    /// (target 1) and once with a random example of another class (target 0), so 2 × iterations × examples pairs, half
    /// of each kind. An example alone in its class is its own positive partner.
    /// </summary>
    public static IReadOnlyList<IndexPair> Pairs(IReadOnlyList<int> labels, int iterations, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(iterations);
        var byClass = Enumerable.Range(0, labels.Count).GroupBy(i => labels[i]).ToDictionary(g => g.Key, g => g.ToArray());
        if (byClass.Count < 2) throw new ArgumentException($"contrastive pairs need examples of at least two classes; got {byClass.Count}.", nameof(labels));
        var pairs = new List<IndexPair>(2 * iterations * labels.Count);
        for (var iteration = 0; iteration < iterations; iteration++)
        {
            for (var i = 0; i < labels.Count; i++)
            {
                var same = byClass[labels[i]];
                var partner = same.Length == 1 ? i : same.Where(j => j != i).ElementAt(random.Next(same.Length - 1));
                pairs.Add(new IndexPair(i, partner, 1f));
                var others = labels.Count - same.Length;
                var other = Enumerable.Range(0, labels.Count).Where(j => labels[j] != labels[i]).ElementAt(random.Next(others));
                pairs.Add(new IndexPair(i, other, 0f));
            }
        }
        return pairs;
    }
}
