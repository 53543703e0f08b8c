using System.Text.Json;
using System.Text.Json.Serialization;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace ExperimentGrid.Core.Trials;

/// <summary>
/// A trial as written by people: the fields a trial file, a sweep's <c>trial:</c> section, flags or a sweep's grid
/// set, each read into its type and kept with where it was written. What cannot be read (an unknown key, a value
/// of the wrong type) is a problem kept here, so that one reading names every one; <see cref="ToSpec"/> adds the
/// defaults and the schema's checks.
/// </summary>
public sealed class TrialValues
{
    private sealed record Entry(object? Value, string Path, long? Line);

    private readonly Dictionary<TrialField, Entry> _entries = [];
    private readonly List<SpecProblem> _problems = [];
    private readonly string _prefix;

    /// <param name="prefix">What a key's path starts with: "trial." in a sweep, nothing in a trial file.</param>
    public TrialValues(string prefix = "") => _prefix = prefix;

    /// <summary>What could not be read; the checks of <see cref="ToSpec"/> come on top.</summary>
    public IReadOnlyList<SpecProblem> Problems => _problems;

    public bool Contains(TrialField field) => _entries.ContainsKey(field);

    /// <summary>The value written for the field; null where it is unset or was written as none.</summary>
    public object? this[TrialField field] => _entries.TryGetValue(field, out var entry) ? entry.Value : null;

    public bool TryGetValue(TrialField field, out object? value)
    {
        var found = _entries.TryGetValue(field, out var entry);
        value = entry?.Value;
        return found;
    }

    /// <summary>Where the field was written, or where it would be: a sweep names a default by its key under trial:.</summary>
    public string PathOf(TrialField field) => _entries.TryGetValue(field, out var entry) ? entry.Path : _prefix + field.Name;

    /// <summary>Sets a value already of the field's type, such as a sweep's draw; a later value wins.</summary>
    public TrialValues Set(TrialField field, object? value, string path, long? line = null)
    {
        if (value is null ? !field.IsOptional : !field.Type.IsInstanceOfType(value))
            throw new ArgumentException($"{field.Name} takes {field.Type.Name}{(field.IsOptional ? " or null" : "")}, not {value?.GetType().Name ?? "null"}", nameof(value));
        _entries[field] = new Entry(value, path, line);
        return this;
    }

    /// <summary>Reads a value written as text (a flag's, a file's), or keeps what is wrong with it as a problem at <paramref name="path"/>.</summary>
    public TrialValues Read(TrialField field, string text, string path, long? line = null) => Keep(field, field.Parse(text), path, line);

    /// <summary>Reads the value of a file key; a key that is no field is a problem at its line.</summary>
    public TrialValues Read(string key, string text, long? line = null) =>
        Field(key, line) is { } field ? Read(field, text, _prefix + key, line) : this;

    private TrialValues Read(string key, IReadOnlyList<string> items, long? line) =>
        Field(key, line) is { } field ? Keep(field, field.Parse(items), _prefix + key, line) : this;

    private TrialField? Field(string key, long? line)
    {
        if (TrialSchema.Find(key) is { } field) return field;
        _problems.Add(new SpecProblem(_prefix + key, line, TrialSchema.NotAField(key)));
        return null;
    }

    private TrialValues Keep(TrialField field, (object? Value, string? Problem) read, string path, long? line)
    {
        if (read.Problem is { } problem) _problems.Add(new SpecProblem(path, line, problem));
        else _entries[field] = new Entry(read.Value, path, line);
        return this;
    }

    /// <summary>The same values, without the problems of reading them, for a sweep to lay one trial's values over.</summary>
    internal TrialValues Copy()
    {
        var copy = new TrialValues(_prefix);
        foreach (var (field, entry) in _entries) copy._entries[field] = entry;
        return copy;
    }

    /// <summary>A problem caused by the field's value, placed where that value was written.</summary>
    internal SpecProblem Problem(TrialField field, string message) =>
        _entries.TryGetValue(field, out var entry) ? new SpecProblem(entry.Path, entry.Line, message) : new SpecProblem(_prefix + field.Name, null, message);

    /// <summary>The checked spec, or a <see cref="TrialSpecException"/> naming every problem, in the order of the file's lines.</summary>
    public TrialSpec ToSpec(string source = "trial")
    {
        var problems = new List<SpecProblem>(_problems);
        var spec = TryToSpec(problems);
        if (problems.Count > 0) throw new TrialSpecException(source, [.. problems.OrderBy(p => p.Line ?? long.MaxValue)]);
        return spec!;
    }

    /// <summary>
    /// The spec, or null after adding each problem of the schema's checks to <paramref name="problems"/>; a sweep
    /// gathers these over all its trials, and names the problems of reading (<see cref="Problems"/>) once.
    /// </summary>
    internal TrialSpec? TryToSpec(List<SpecProblem> problems) => TrialSchema.Resolve(this, problems);

    private static readonly IDeserializer TrialFile = new DeserializerBuilder().WithTypeConverter(YamlReader("")).Build();

    /// <summary>Reads a YAML (or JSON, a subset of YAML) trial file; an unknown key or a bad value is a problem at its line.</summary>
    public static TrialValues Load(string path)
    {
        if (!File.Exists(path)) throw new TrialSpecException($"{path}: config file not found.");
        try
        {
            return TrialFile.Deserialize<TrialValues?>(File.ReadAllText(path)) ?? new TrialValues();
        }
        catch (YamlException e)
        {
            var inner = e.InnerException is { } i ? $" ({i.Message})" : "";
            throw new TrialSpecException($"{path}:{e.Start.Line}: {e.Message}{inner}");
        }
    }

    /// <summary>Reads a mapping of trial keys into <see cref="TrialValues"/> whose paths start with <paramref name="prefix"/>.</summary>
    internal static IYamlTypeConverter YamlReader(string prefix) => new Yaml(prefix);

    /// <summary>
    /// Writes the values as a trial file would, each field's text or list, and reads them back with paths under
    /// <paramref name="prefix"/>: a sweep keeps its trial: section so in the plan it stores.
    /// </summary>
    internal static JsonConverter<TrialValues> JsonForm(string prefix) => new Json(prefix);

    private sealed class Json(string prefix) : JsonConverter<TrialValues>
    {
        public override TrialValues Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("expected trial fields as an object");
            var values = new TrialValues(prefix);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var key = reader.GetString()!;
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    values.Read(key, reader.GetString()!);
                    continue;
                }
                var items = new List<string>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) items.Add(reader.GetString()!);
                values.Read(key, items, null);
            }
            return values;
        }

        public override void Write(Utf8JsonWriter writer, TrialValues value, JsonSerializerOptions options)
        {
            writer.WriteStartObject();
            foreach (var (field, entry) in value._entries)
            {
                writer.WritePropertyName(field.Name);
                if (entry.Value is IReadOnlyList<string> items)
                {
                    writer.WriteStartArray();
                    foreach (var item in items) writer.WriteStringValue(item);
                    writer.WriteEndArray();
                }
                else
                {
                    writer.WriteStringValue(field.Format(entry.Value));
                }
            }
            writer.WriteEndObject();
        }
    }

    /// <summary>
    /// Reads the mapping event by event, which keeps each key's line and goes on past a key or value it cannot use;
    /// YamlDotNet's own object reading stops at the first.
    /// </summary>
    private sealed class Yaml(string prefix) : IYamlTypeConverter
    {
        public bool Accepts(Type type) => type == typeof(TrialValues);

        public object? ReadYaml(IParser parser, Type type, ObjectDeserializer rootDeserializer)
        {
            var values = new TrialValues(prefix);
            if (parser.TryConsume<Scalar>(out var scalar))
            {
                // "trial:" with nothing after it sets nothing; any other lone value is not a trial.
                return IsNull(scalar) ? values : throw new YamlException(scalar.Start, scalar.End, "expected trial fields as key: value pairs");
            }
            parser.Consume<MappingStart>();
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var key = parser.Consume<Scalar>();
                var line = key.Start.Line;
                if (parser.TryConsume<Scalar>(out var value))
                {
                    values.Read(key.Value, IsNull(value) ? "" : value.Value, line);
                }
                else if (parser.TryConsume<SequenceStart>(out _))
                {
                    var items = new List<string>();
                    while (!parser.TryConsume<SequenceEnd>(out _))
                        items.Add(parser.Consume<Scalar>().Value);
                    values.Read(key.Value, items, line);
                }
                else
                {
                    parser.SkipThisAndNestedEvents();
                    values._problems.Add(new SpecProblem(prefix + key.Value, line, "expected a value or a list of values"));
                }
            }
            return values;
        }

        /// <summary>YAML's null (nothing, ~ or null, unquoted): an empty value, which unsets an optional field.</summary>
        private static bool IsNull(Scalar scalar) => scalar.Style == ScalarStyle.Plain && scalar.Value is "" or "~" or "null" or "Null" or "NULL";

        public void WriteYaml(IEmitter emitter, object? value, Type type, ObjectSerializer serializer) =>
            throw new NotSupportedException("Trial values are read, never written, as YAML.");
    }
}

public sealed class TrialSpecException : Exception
{
    public TrialSpecException(string message) : base(message)
    {
    }

    public TrialSpecException(string source, IReadOnlyList<SpecProblem> problems) : base(SpecProblem.Describe(source, problems)) => Problems = problems;

    /// <summary>Each problem with where it was written; empty where the message names one failure of its own.</summary>
    public IReadOnlyList<SpecProblem> Problems { get; } = [];
}
