using System.Globalization;

namespace ExperimentGrid.TestSupport;

/// <summary>
/// How a fake silo process (tests/ExperimentGrid.FakeSilo) sets up its <see cref="FakeTrainableFactory"/>. Its flags
/// are the real silo's, so these travel as environment variables; a value left null keeps the factory's default.
/// </summary>
public sealed record FakeSiloSettings(int? StepsPerEpoch = null, double? StepMilliseconds = null, double? Noise = null)
{
    public const string StepsPerEpochVariable = "EXPERIMENTGRID_FAKE_STEPS_PER_EPOCH";
    public const string StepMillisecondsVariable = "EXPERIMENTGRID_FAKE_STEP_MS";
    public const string NoiseVariable = "EXPERIMENTGRID_FAKE_NOISE";

    /// <summary>The variables that give a fake silo these settings.</summary>
    public IReadOnlyDictionary<string, string> ToEnvironment()
    {
        var variables = new Dictionary<string, string>();
        if (StepsPerEpoch is { } steps) variables[StepsPerEpochVariable] = steps.ToString(CultureInfo.InvariantCulture);
        if (StepMilliseconds is { } milliseconds) variables[StepMillisecondsVariable] = milliseconds.ToString("R", CultureInfo.InvariantCulture);
        if (Noise is { } noise) variables[NoiseVariable] = noise.ToString("R", CultureInfo.InvariantCulture);
        return variables;
    }

    /// <summary>Reads the settings from <paramref name="read"/> (the process's environment by default).</summary>
    /// <exception cref="FormatException">A variable is set to something that is not a valid value; the message names it.</exception>
    public static FakeSiloSettings FromEnvironment(Func<string, string?>? read = null)
    {
        read ??= Environment.GetEnvironmentVariable;
        return new FakeSiloSettings(
            Read(read, StepsPerEpochVariable, "a whole number of steps, at least 1", PositiveInteger),
            Read(read, StepMillisecondsVariable, "a number of milliseconds, at least 0", NonNegative),
            Read(read, NoiseVariable, "a non-negative number", NonNegative));
    }

    public FakeTrainableFactory CreateFactory()
    {
        var defaults = new FakeTrainableFactory();
        return new FakeTrainableFactory
        {
            StepsPerEpoch = StepsPerEpoch ?? defaults.StepsPerEpoch,
            StepTime = StepMilliseconds is { } milliseconds ? _ => TimeSpan.FromMilliseconds(milliseconds) : defaults.StepTime,
            Noise = Noise ?? defaults.Noise,
        };
    }

    public override string ToString()
    {
        var defaults = new FakeTrainableFactory();
        var stepTime = StepMilliseconds is { } milliseconds ? TimeSpan.FromMilliseconds(milliseconds) : defaults.StepTime(1);
        return string.Create(CultureInfo.InvariantCulture,
            $"{StepsPerEpoch ?? defaults.StepsPerEpoch} steps an epoch, {stepTime.TotalMilliseconds:G} ms a step, noise {Noise ?? defaults.Noise:G}");
    }

    private static T? Read<T>(Func<string, string?> read, string variable, string expected, Func<string, T?> parse) where T : struct
    {
        if (read(variable) is not { Length: > 0 } text) return null;
        return parse(text.Trim()) ?? throw new FormatException($"{variable}: '{text}' is not {expected}.");
    }

    private static int? PositiveInteger(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1 ? value : null;

    private static double? NonNegative(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && value >= 0 ? value : null;
}
