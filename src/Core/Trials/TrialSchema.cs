using System.Reflection;

namespace ExperimentGrid.Core.Trials;

/// <summary>
/// The trial fields, read once from <see cref="TrialSpec"/>'s declarations, and the rules between them. Flags, file
/// keys, validation and the fields a sweep may vary all come from here, so a field is added by declaring it.
/// </summary>
public static class TrialSchema
{
    /// <summary>In declaration order, which is the order of help and of the field lists in messages.</summary>
    public static IReadOnlyList<TrialField> Fields { get; } = Declare();

    private static readonly Dictionary<string, TrialField> ByName = Fields.ToDictionary(f => f.Name, StringComparer.Ordinal);
    private static readonly TrialField MicroBatchSize = Field(nameof(TrialSpec.MicroBatchSize));
    private static readonly TrialField SamplesPerClass = Field(nameof(TrialSpec.SamplesPerClass));

    public static IEnumerable<TrialField> Sweepable => Fields.Where(f => f.Sweepable);

    /// <summary>The field with this file key (snake_case), or null.</summary>
    public static TrialField? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>The field of a <see cref="TrialSpec"/> property, named with nameof.</summary>
    public static TrialField Field(string property) => Find(System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(property))
        ?? throw new ArgumentException($"TrialSpec has no property {property}", nameof(property));

    public static string NotAField(string key) => $"'{key}' is not a trial field (fields: {string.Join(", ", Fields.Select(f => f.Name))})";

    private static List<TrialField> Declare()
    {
        var defaults = new TrialSpec();
        return
        [
            .. typeof(TrialSpec).GetProperties().OrderBy(p => p.MetadataToken).Select(property => new TrialField(property,
                property.GetCustomAttribute<TrialFieldAttribute>() ?? throw new InvalidOperationException($"TrialSpec.{property.Name} has no [TrialField] declaration"),
                property.GetValue(defaults))),
        ];
    }

    /// <summary>
    /// The spec that <paramref name="values"/> make over the defaults, or null after adding each problem with the path
    /// and line of the value that causes it: a value out of bounds or refused by its check, or a rule between fields.
    /// </summary>
    internal static TrialSpec? Resolve(TrialValues values, List<SpecProblem> problems)
    {
        var before = problems.Count;
        var spec = new TrialSpec();
        foreach (var field in Fields)
        {
            if (!values.TryGetValue(field, out var value)) continue;
            field.SetIn(spec, value);
            if (field.Check(value) is { } problem) problems.Add(values.Problem(field, problem));
        }
        foreach (var (field, message) in Conflicts(spec, values)) problems.Add(values.Problem(field, message));
        return problems.Count > before ? null : spec;
    }

    /// <summary>Rules that hold between fields; each names the field whose value breaks it.</summary>
    private static IEnumerable<(TrialField Field, string Message)> Conflicts(TrialSpec spec, TrialValues values)
    {
        foreach (var field in Fields.Where(f => values.Contains(f) && !f.AppliesTo(spec.Task)))
            yield return (field, $"applies only to task {string.Join(" and ", field.Tasks.Select(TaskKinds.Name))}, not {TaskKinds.Name(spec.Task)}");
        if (spec.MicroBatchSize > spec.BatchSize)
            yield return (MicroBatchSize, $"{spec.MicroBatchSize} exceeds batch_size {spec.BatchSize}; a micro-batch is a slice of a batch");
        if (spec.Task == TaskKind.SetFit && spec.SamplesPerClass == 0 && spec.LabelNames is null)
            yield return (SamplesPerClass, "0 trains zero-shot from the label names, so label_names must be given");
        if (spec.Task == TaskKind.TextClassification && spec.SamplesPerClass == 0)
            yield return (SamplesPerClass, "0 is setfit's zero-shot training; text-classification needs at least 1 example per class");
    }
}
