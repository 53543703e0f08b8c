using System.Collections;
using System.Globalization;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>A varied field's value in one trial, its text for display, and where the spec set it.</summary>
internal sealed record Setting(TrialField Field, object? Value, string Text, string Origin);

/// <summary>A checked <c>random:</c> entry of a search space.</summary>
internal sealed record RandomAxis(TrialField Field, Distribution Distribution);

/// <summary>
/// What a searcher proposes: a trial id with its hyperparameters, and either the trial's spec or, for a combination
/// of values that is invalid together (possible only in a space too large to check whole at submission), why not.
/// </summary>
public sealed record Suggestion(string Id, IReadOnlyList<Hyperparameter> Hyperparameters, TrialSpec? Spec, string? Problem)
{
    public SweepTrial Trial => Spec is { } spec ? new SweepTrial(Id, spec, Hyperparameters) : throw new SweepSpecException($"trial {Id}: {Problem}");
}

/// <summary>
/// Every configuration a sweep's grid:, random: and seeds: describe, addressed by index and built only when asked
/// for: a grid of 10^5 points costs nothing until its trials run. Index order is the grid's (the first field changing
/// slowest), then the random draws of each grid point, then the seeds of each draw.
/// </summary>
public sealed class SearchSpace : IReadOnlyList<SweepTrial>
{
    private readonly IReadOnlyList<IReadOnlyList<Setting>> _grid;
    private readonly IReadOnlyList<RandomAxis> _random;
    private readonly int _samples;
    private readonly IReadOnlyList<Setting?> _seeds;
    private readonly int _searchSeed;
    private readonly Func<IReadOnlyList<Setting>, List<SpecProblem>, TrialSpec?> _build;
    private readonly int _idWidth;

    internal SearchSpace(IReadOnlyList<IReadOnlyList<Setting>> grid, IReadOnlyList<RandomAxis> random, int samples, IReadOnlyList<Setting?> seeds,
        int searchSeed, Func<IReadOnlyList<Setting>, List<SpecProblem>, TrialSpec?> build)
    {
        (_grid, _random, _samples, _seeds, _searchSeed, _build) = (grid, random, samples, seeds, searchSeed, build);
        var size = Size(grid, samples, seeds.Count);
        Count = size > int.MaxValue ? throw new ArgumentOutOfRangeException(nameof(grid), $"{size} configurations") : (int)size;
        _idWidth = Math.Max(3, Count.ToString(CultureInfo.InvariantCulture).Length);
    }

    /// <summary>How many configurations the axes make; checked against int's range before a space is built.</summary>
    internal static long Size(IReadOnlyList<IReadOnlyList<Setting>> grid, int samples, int seeds) =>
        grid.Aggregate((long)samples * seeds, (product, axis) => product > int.MaxValue ? product : product * axis.Count);

    public int Count { get; }

    /// <summary>Whether any field is drawn at random: random search, as opposed to a grid.</summary>
    public bool IsRandom => _random.Count > 0;

    /// <summary>The trial at <paramref name="index"/>; throws for a combination that is invalid.</summary>
    public SweepTrial this[int index] => Create(index).Trial;

    public string Id(int index) => "t" + (index + 1).ToString(CultureInfo.InvariantCulture).PadLeft(_idWidth, '0');

    /// <summary>Builds and checks the configuration at <paramref name="index"/>.</summary>
    public Suggestion Create(int index) => Create(index, Settings(index));

    /// <summary>
    /// Builds and checks a configuration that a searcher chose itself, from the values of this space's axes, as the
    /// trial it suggests <paramref name="index"/>-th.
    /// </summary>
    internal Suggestion Create(int index, IReadOnlyList<Setting> settings)
    {
        var problems = new List<SpecProblem>();
        var spec = _build(settings, problems);
        // A List, not a collection expression: trials travel to grains and their state, whose serializer needs a
        // collection type it knows, not one the compiler made.
        var hyperparameters = settings.Select(s => new Hyperparameter(s.Field.Name, s.Text)).ToList();
        return new Suggestion(Id(index), hyperparameters, spec, spec is null ? string.Join("; ", problems) : null);
    }

    /// <summary>The values that configuration <paramref name="index"/> sets, in the spec's order: grid, random, seed.</summary>
    internal IReadOnlyList<Setting> Settings(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        var seed = _seeds[index % _seeds.Count];
        var draw = index / _seeds.Count;
        var point = draw / _samples;
        var settings = new Setting[_grid.Count];
        for (var axis = _grid.Count - 1; axis >= 0; axis--)
        {
            settings[axis] = _grid[axis][point % _grid[axis].Count];
            point /= _grid[axis].Count;
        }
        List<Setting> all = [.. settings];
        if (_random.Count > 0)
        {
            var generator = new Random(DrawSeed(_searchSeed, draw));
            foreach (var axis in _random)
            {
                var (value, text) = axis.Distribution.Draw(generator);
                all.Add(new Setting(axis.Field, value, text, $"random.{axis.Field.Name}"));
            }
        }
        if (seed is not null) all.Add(seed);
        return all;
    }

    /// <summary>
    /// The index of the configuration that takes value <paramref name="value"/> on grid axis <paramref name="axis"/>
    /// and the first value everywhere else: with these, a space too large to check whole has each value checked once.
    /// </summary>
    internal int IndexVarying(int axis, int value)
    {
        long index = value;
        for (var later = axis + 1; later < _grid.Count; later++) index *= _grid[later].Count;
        return (int)(index * _samples * _seeds.Count);
    }

    /// <summary>
    /// The freeze depths the space's trials may ask for, where freeze is varied (a grid axis or a random choice);
    /// empty where every trial has the same depth. A trial computing a deep frozen prefix stores these shallower ones.
    /// </summary>
    public IReadOnlyList<Modeling.FreezeDepth> FreezeDepths =>
    [
        .. _grid.SelectMany(axis => axis).Select(setting => setting.Value)
            .Concat(_random.Where(axis => axis.Distribution is ChoiceDistribution).SelectMany(axis => ((ChoiceDistribution)axis.Distribution).Options.Select(o => o.Value)))
            .OfType<Modeling.FreezeDepth>().Distinct(),
    ];

    /// <summary>Each grid: axis's values, in the spec's order: to an adaptive searcher, categories to choose from.</summary>
    internal IReadOnlyList<IReadOnlyList<Setting>> Grid => _grid;

    internal IReadOnlyList<RandomAxis> Random => _random;

    internal int SearchSeed => _searchSeed;

    /// <summary>
    /// A draw's own generator seed, mixed from the search seed and the draw's index (SplitMix64's finaliser): a draw
    /// is made alone, in any order, on any silo, and is the same every time. HashCode is seeded per process, so not it.
    /// </summary>
    internal static int DrawSeed(int searchSeed, int draw)
    {
        var z = ((ulong)(uint)searchSeed << 32) | (uint)draw;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)(z ^ (z >> 31));
    }

    public IEnumerator<SweepTrial> GetEnumerator()
    {
        for (var i = 0; i < Count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
