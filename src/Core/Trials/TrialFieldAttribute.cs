namespace ExperimentGrid.Core.Trials;

/// <summary>
/// Declares a <see cref="TrialSpec"/> property as a trial field. The property's name gives its keys (snake_case in
/// trial and sweep files, --kebab-case as a flag), its type how a value is read, and its initializer the default;
/// <see cref="TrialSchema"/> derives flags, help, validation and the sweepable fields from these declarations.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class TrialFieldAttribute(string help) : Attribute
{
    /// <summary>What the field does; the schema adds its tasks, allowed values and default.</summary>
    public string Help { get; } = help;

    /// <summary>Flags besides --kebab-case, such as -m or --lr.</summary>
    public string[] Aliases { get; set; } = [];

    /// <summary>Whether a sweep's grid: or random: may vary the field.</summary>
    public bool Sweepable { get; set; } = true;

    /// <summary>The tasks the field applies to; none means every task. Setting it for another task is a problem.</summary>
    public TaskKind[] Tasks { get; set; } = [];

    /// <summary>The lowest number allowed; NaN for no bound.</summary>
    public double Min { get; set; } = double.NaN;

    /// <summary>Whether <see cref="Min"/> itself is refused.</summary>
    public bool MinExclusive { get; set; }

    /// <summary>The highest number allowed, included; NaN for no bound.</summary>
    public double Max { get; set; } = double.NaN;

    /// <summary>What the number counts, named where a bound is broken ("tokens").</summary>
    public string? Unit { get; set; }

    /// <summary>
    /// A private static method of <see cref="TrialSpec"/>, taking the field's value, that says what is wrong with a
    /// value its type reads, or returns null.
    /// </summary>
    public string? Check { get; set; }
}
