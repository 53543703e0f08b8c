using System.Globalization;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>A checked <c>random:</c> entry. Each draw gives the field's value and its text for the leaderboard.</summary>
internal abstract record Distribution
{
    public abstract (object? Value, string Text) Draw(Random random);

    protected static (object, string) Real(double value) => (value, value.ToString(CultureInfo.InvariantCulture));
}

internal sealed record UniformDistribution(double Low, double High) : Distribution
{
    public override (object? Value, string Text) Draw(Random random) => Real(Low + (random.NextDouble() * (High - Low)));
}

internal sealed record LogUniformDistribution(double Low, double High) : Distribution
{
    public override (object? Value, string Text) Draw(Random random) =>
        Real(Math.Exp(Math.Log(Low) + (random.NextDouble() * (Math.Log(High) - Math.Log(Low)))));
}

internal sealed record IntUniformDistribution(int Low, int High) : Distribution
{
    public override (object? Value, string Text) Draw(Random random)
    {
        // 64-bit bounds, so that High = int.MaxValue still has an exclusive bound one above it.
        var value = (int)random.NextInt64(Low, (long)High + 1);
        return (value, value.ToString(CultureInfo.InvariantCulture));
    }
}

internal sealed record ChoiceDistribution(IReadOnlyList<(object? Value, string Text)> Options) : Distribution
{
    public override (object? Value, string Text) Draw(Random random) => Options[random.Next(Options.Count)];
}
