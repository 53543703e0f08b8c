using System.Globalization;
using System.Reflection;
using System.Text.Json;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;

namespace ExperimentGrid.Core.Trials;

/// <summary>
/// One trial field, as its <see cref="TrialSpec"/> property declares it: its keys, its help, and how a written value
/// is read (<see cref="Parse(string)"/>: the type) and checked (<see cref="Check"/>: bounds and the declared check).
/// </summary>
public sealed class TrialField
{
    /// <summary>How text becomes a value of one type, how a value is written back, and the names allowed, if listed.</summary>
    private sealed record Reader(Func<string, (object? Value, string? Problem)> Parse, Func<object, string> Format, IReadOnlyList<string>? Allowed = null);

    private readonly PropertyInfo _property;
    private readonly TrialFieldAttribute _declaration;
    private readonly Reader _reader;
    private readonly Func<object, string?>? _check;

    internal TrialField(PropertyInfo property, TrialFieldAttribute declaration, object? defaultValue)
    {
        _property = property;
        _declaration = declaration;
        Name = JsonNamingPolicy.SnakeCaseLower.ConvertName(property.Name);
        Flag = "--" + JsonNamingPolicy.KebabCaseLower.ConvertName(property.Name);
        Type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        IsOptional = Type != property.PropertyType || new NullabilityInfoContext().Create(property).WriteState == NullabilityState.Nullable;
        _reader = ReaderFor(Type, Name.Replace('_', ' '))
            ?? throw new InvalidOperationException($"TrialSpec.{property.Name}: no reader for {Type.Name}; add one to {nameof(TrialField)}.{nameof(ReaderFor)}");
        _check = declaration.Check is { } check ? DeclaredCheck(check) : null;
        Default = defaultValue;

        var tasks = declaration.Tasks.Length == 0 ? "" : $"{string.Join(", ", declaration.Tasks.Select(TaskKinds.Name))}: ";
        var help = tasks.Length == 0 ? declaration.Help : char.ToLowerInvariant(declaration.Help[0]) + declaration.Help[1..];
        var allowed = _reader.Allowed is { } names ? $" One of {string.Join(", ", names)}." : "";
        Help = $"{tasks}{help}{allowed}{(defaultValue is null ? "" : $" Default {Format(defaultValue)}.")}";
    }

    /// <summary>The key in trial and sweep files, and in the spec's JSON: snake_case of the property's name.</summary>
    public string Name { get; }

    /// <summary>The command-line flag: --kebab-case of the property's name.</summary>
    public string Flag { get; }

    public IReadOnlyList<string> Aliases => _declaration.Aliases;

    /// <summary>The declared help, with the tasks it applies to, the names allowed and the default.</summary>
    public string Help { get; }

    /// <summary>The type of a value: int, double, bool, string, a list of strings, an enum, or <see cref="FreezeDepth"/>.</summary>
    public Type Type { get; }

    public bool IsList => Type == typeof(IReadOnlyList<string>);

    /// <summary>Whether the field may be unset; 'none' or an empty value unsets it.</summary>
    public bool IsOptional { get; }

    public bool Sweepable => _declaration.Sweepable;

    /// <summary>The tasks the field applies to; empty for every task.</summary>
    public IReadOnlyList<TaskKind> Tasks => _declaration.Tasks;

    /// <summary>The value of <c>new TrialSpec()</c>.</summary>
    public object? Default { get; }

    public bool AppliesTo(TaskKind task) => Tasks.Count == 0 || Tasks.Contains(task);

    public override string ToString() => Name;

    /// <summary>The value that <paramref name="text"/> writes, or why it writes none. A list is written comma-separated.</summary>
    public (object? Value, string? Problem) Parse(string text)
    {
        var trimmed = text.Trim();
        if (IsOptional && (trimmed.Length == 0 || trimmed.Equals("none", StringComparison.OrdinalIgnoreCase))) return (null, null);
        if (trimmed.Length == 0) return (null, "must not be empty");
        return _reader.Parse(trimmed);
    }

    /// <summary>The value of a list field written item by item, as a YAML sequence writes it.</summary>
    public (object? Value, string? Problem) Parse(IReadOnlyList<string> items) =>
        IsList ? (items.Select(item => item.Trim()).ToArray(), null) : (null, "takes one value, not a list");

    /// <summary>The text that <see cref="Parse(string)"/> reads back to <paramref name="value"/>.</summary>
    public string Format(object? value) => value is null ? "none" : _reader.Format(value);

    /// <summary>What is wrong with a value of the field's type (a bound, the declared check), or null.</summary>
    public string? Check(object? value) => value switch
    {
        null => null,
        int number when OutOfBounds(number) => $"must be {Bounds()}, got {Format(value)}",
        double number when OutOfBounds(number) => $"must be {Bounds()}, got {Format(value)}",
        _ => _check?.Invoke(value),
    };

    internal object? ValueIn(TrialSpec spec) => _property.GetValue(spec);

    /// <summary>Sets the field on a spec that <see cref="TrialSchema"/> is still building; specs are immutable once handed out.</summary>
    internal void SetIn(TrialSpec spec, object? value) => _property.SetValue(spec, value);

    private bool OutOfBounds(double number)
    {
        var (min, max) = (_declaration.Min, _declaration.Max);
        var aboveMin = double.IsNaN(min) || (_declaration.MinExclusive ? number > min : number >= min);
        var belowMax = double.IsNaN(max) || number <= max;
        return !(aboveMin && belowMax);
    }

    private string Bounds()
    {
        var (min, max) = (_declaration.Min, _declaration.Max);
        string Text(double bound) => bound.ToString(CultureInfo.InvariantCulture);
        var unit = _declaration.Unit is { } u ? $" {u}" : "";
        if (Type == typeof(int))
        {
            if (double.IsNaN(max)) return min == 1 ? "a positive integer" : $"{Text(min)} or more{unit}";
            return double.IsNaN(min) ? $"{Text(max)} or less{unit}" : $"between {Text(min)} and {Text(max)}{unit}";
        }
        if (double.IsNaN(max)) return _declaration.MinExclusive ? $"above {Text(min)}" : $"{Text(min)} or more";
        if (double.IsNaN(min)) return $"{Text(max)} or less";
        return $"in {(_declaration.MinExclusive ? "(" : "[")}{Text(min)}, {Text(max)}]";
    }

    private Func<object, string?> DeclaredCheck(string methodName)
    {
        var method = typeof(TrialSpec).GetMethod(methodName, BindingFlags.NonPublic | BindingFlags.Static, [Type]);
        if (method?.ReturnType != typeof(string))
            throw new InvalidOperationException($"TrialSpec.{_property.Name}: its check {methodName} must be a private static string? {methodName}({Type.Name})");
        return value => (string?)method.Invoke(null, [value]);
    }

    private delegate bool TryParse<T>(string? text, out T value);

    private static Reader? ReaderFor(Type type, string noun)
    {
        if (type == typeof(string)) return new(text => (text, null), value => (string)value);
        if (type == typeof(int))
        {
            return new(text => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? (number, null) : (null, $"'{text}' is not an integer"),
                value => ((int)value).ToString(CultureInfo.InvariantCulture));
        }
        if (type == typeof(double))
        {
            return new(text => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number)
                    ? (number, null) : (null, $"'{text}' is not a number"),
                value => FormatReal((double)value));
        }
        if (type == typeof(bool))
            return new(text => bool.TryParse(text, out var flag) ? (flag, null) : (null, $"'{text}' is not true or false"), value => (bool)value ? "true" : "false", ["true", "false"]);
        if (type == typeof(IReadOnlyList<string>))
            return new(text => (text.Split(',', StringSplitOptions.TrimEntries), null), value => string.Join(",", (IReadOnlyList<string>)value));
        if (type == typeof(FreezeDepth)) return new(ParseFreeze, value => value.ToString()!);
        if (type == typeof(TaskKind)) return Named<TaskKind>(noun, TaskKinds.Names, TaskKinds.TryParse, TaskKinds.Name);
        if (type == typeof(ComputePrecision)) return Named<ComputePrecision>(noun, EnumNames.Of<ComputePrecision>(), EnumNames.TryParse, EnumNames.Name);
        if (type == typeof(MaskingStrategy)) return Named<MaskingStrategy>(noun, EnumNames.Of<MaskingStrategy>(), EnumNames.TryParse, EnumNames.Name);
        return null;
    }

    private static Reader Named<T>(string noun, IEnumerable<string> names, TryParse<T> tryParse, Func<T, string> name)
    {
        IReadOnlyList<string> allowed = [.. names];
        return new(text => tryParse(text, out var value) ? (value, null) : (null, $"'{text}' is not a {noun} (allowed: {string.Join(", ", allowed)})"),
            value => name((T)value), allowed);
    }

    private static (object? Value, string? Problem) ParseFreeze(string text)
    {
        try
        {
            return (FreezeDepth.Parse(text), null);
        }
        catch (FormatException e)
        {
            return (null, e.Message.TrimEnd('.'));
        }
    }

    /// <summary>The shortest text that reads back to the number, with an exponent as people write one: 2e-5, not 2E-05.</summary>
    private static string FormatReal(double value)
    {
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        var exponent = text.IndexOf('E', StringComparison.Ordinal);
        return exponent < 0 ? text : $"{text[..exponent]}e{int.Parse(text[(exponent + 1)..], CultureInfo.InvariantCulture)}";
    }
}
