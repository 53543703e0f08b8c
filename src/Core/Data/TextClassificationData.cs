using System.Globalization;
using System.Text.Json;
using CsvHelper;
using CsvHelper.Configuration;
using Parquet;
using Parquet.Schema;

namespace ExperimentGrid.Core.Data;

/// <summary>One labelled text and where it came from (line of a jsonl or csv file, row of a parquet file).</summary>
public sealed record TextExample(string Text, int Label, int Line);

/// <summary>A data problem, always naming the file and, where there is one, the line.</summary>
public sealed class DatasetException(string message) : Exception(message);

/// <summary>Reads labelled texts from jsonl, csv or parquet; labels are integer class ids 0..K-1.</summary>
public static class TextClassificationData
{
    public static IReadOnlyList<TextExample> Read(string path, string textColumn = "text", string labelColumn = "label") =>
        ReadFile(path, textColumn, labelColumn);

    /// <summary>Texts alone, for masked-LM pretraining: a label column need not exist, and is not read where it does.</summary>
    public static IReadOnlyList<string> ReadTexts(string path, string textColumn = "text") =>
        [.. ReadFile(path, textColumn, labelColumn: null).Select(e => e.Text)];

    private static List<TextExample> ReadFile(string path, string textColumn, string? labelColumn)
    {
        if (!File.Exists(path)) throw new DatasetException($"{path}: file not found.");
        var examples = Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".jsonl" or ".json" => ReadJsonLines(path, textColumn, labelColumn),
            ".csv" => ReadCsv(path, textColumn, labelColumn),
            ".parquet" => ReadParquet(path, textColumn, labelColumn),
            var other => throw new DatasetException($"{path}: unsupported format '{other}' (use .jsonl, .csv or .parquet)."),
        };
        if (examples.Count == 0) throw new DatasetException($"{path}: no examples.");
        return examples;
    }

    private static List<TextExample> ReadJsonLines(string path, string textColumn, string? labelColumn)
    {
        var examples = new List<TextExample>();
        var lineNumber = 0;
        foreach (var line in Utf8Lines.Read(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException e)
            {
                // The reader counts lines and bytes within this one line from 0; name the file's line and the column.
                throw new DatasetException($"{path}:{lineNumber}: invalid JSON at byte {e.BytePositionInLine + 1} ({e.Message.Split(" LineNumber:")[0]}).");
            }
            using (document)
            {
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new DatasetException($"{path}:{lineNumber}: expected a JSON object.");
                if (!root.TryGetProperty(textColumn, out var text))
                    throw new DatasetException($"{path}:{lineNumber}: no field '{textColumn}' (fields: {string.Join(", ", root.EnumerateObject().Select(p => p.Name))}).");
                var label = default(JsonElement);
                if (labelColumn is not null && !root.TryGetProperty(labelColumn, out label))
                    throw new DatasetException($"{path}:{lineNumber}: no field '{labelColumn}' (fields: {string.Join(", ", root.EnumerateObject().Select(p => p.Name))}).");
                var textValue = text.ValueKind == JsonValueKind.String ? text.GetString() : null;
                if (text.ValueKind != JsonValueKind.String)
                    throw new DatasetException($"{path}:{lineNumber}: field '{textColumn}' is {text.ValueKind}, not a string.");
                int? labelValue = null;
                if (labelColumn is not null)
                {
                    if (label.ValueKind != JsonValueKind.Number || !label.TryGetInt32(out var number))
                        throw new DatasetException($"{path}:{lineNumber}: label '{label.GetRawText()}' in field '{labelColumn}' is not an integer class id.");
                    labelValue = number;
                }
                examples.Add(Validated(path, $"{lineNumber}", textValue, textColumn, labelValue, lineNumber));
            }
        }
        return examples;
    }

    private static List<TextExample> ReadCsv(string path, string textColumn, string? labelColumn)
    {
        try
        {
            return ReadCsvRows(path, textColumn, labelColumn);
        }
        catch (Exception e) when (Utf8Lines.IsInvalid(e))
        {
            throw Utf8Lines.Invalid(path);
        }
    }

    private static List<TextExample> ReadCsvRows(string path, string textColumn, string? labelColumn)
    {
        var examples = new List<TextExample>();
        using var reader = new StreamReader(path, Utf8Lines.Strict, detectEncodingFromByteOrderMarks: true);
        using var csv = new CsvReader(reader, new CsvConfiguration(CultureInfo.InvariantCulture) { DetectDelimiter = true, BadDataFound = null });
        if (!csv.Read() || !csv.ReadHeader()) throw new DatasetException($"{path}:1: no header row.");
        var header = csv.HeaderRecord ?? [];
        foreach (var column in new[] { textColumn, labelColumn }.OfType<string>())
            if (!header.Contains(column))
                throw new DatasetException($"{path}:1: no column '{column}' (columns: {string.Join(", ", header)}).");
        while (csv.Read())
        {
            var line = csv.Parser.RawRow;
            var text = csv.GetField(textColumn);
            int? label = null;
            if (labelColumn is not null)
            {
                var labelText = csv.GetField(labelColumn)?.Trim();
                if (!int.TryParse(labelText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed))
                    throw new DatasetException($"{path}:{line}: label '{labelText}' in column '{labelColumn}' is not an integer class id.");
                label = parsed;
            }
            examples.Add(Validated(path, $"{line}", text, textColumn, label, line));
        }
        return examples;
    }

    /// <summary>
    /// Parquet.Net reads asynchronously only. Blocking on it on the caller's task scheduler deadlocks where that
    /// scheduler is single-threaded, as a grain's is (a sweep grain checking a Parquet split never answered its
    /// SubmitAsync), so it runs on the thread pool.
    /// </summary>
    private static List<TextExample> ReadParquet(string path, string textColumn, string? labelColumn) =>
        Task.Run(() => ReadParquetAsync(path, textColumn, labelColumn)).GetAwaiter().GetResult();

    private static async Task<List<TextExample>> ReadParquetAsync(string path, string textColumn, string? labelColumn)
    {
        var examples = new List<TextExample>();
        await using var reader = await OpenParquetAsync(path);
        var fields = reader.Schema.GetDataFields();
        DataField Field(string name) => fields.FirstOrDefault(f => f.Name == name)
            ?? throw new DatasetException($"{path}: no column '{name}' (columns: {string.Join(", ", fields.Select(f => f.Name))}).");
        var textField = Field(textColumn);
        var labelField = labelColumn is null ? null : Field(labelColumn);
        if (textField.ClrType != typeof(string) && textField.ClrType != typeof(ReadOnlyMemory<char>))
            throw new DatasetException($"{path}: column '{textColumn}' holds {textField.ClrType.Name}, not text.");
        var row = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = checked((int)group.RowCount);
            var texts = new string?[count];
            await group.ReadAsync(textField, texts.AsMemory(), null);
            var labels = labelField is null ? null : await ReadIntegersAsync(group, labelField, count, path);
            for (var i = 0; i < count; i++)
            {
                row++;
                if (labels is not null && labels[i] is null)
                    throw new DatasetException($"{path}: row {row}: label in column '{labelColumn}' is missing.");
                examples.Add(Validated(path, $"row {row}", texts[i], textColumn, labels?[i], row));
            }
        }
        return examples;
    }

    private static async Task<ParquetReader> OpenParquetAsync(string path)
    {
        try
        {
            return await ParquetReader.CreateAsync(path);
        }
        catch (IOException e)
        {
            throw new DatasetException($"{path}: not a Parquet file ({e.Message}).");
        }
    }

    private static async Task<int?[]> ReadIntegersAsync(ParquetRowGroupReader group, DataField field, int count, string path)
    {
        async Task<int?[]> Read<T>(Func<T, int?> convert) where T : struct
        {
            if (field.IsNullable)
            {
                var values = new T?[count];
                await group.ReadAsync<T>(field, values.AsMemory(), null);
                return [.. values.Select(v => v is { } x ? convert(x) : null)];
            }
            var plain = new T[count];
            await group.ReadAsync<T>(field, plain.AsMemory(), null);
            return [.. plain.Select(convert)];
        }
        return field.ClrType switch
        {
            var t when t == typeof(int) => await Read<int>(v => v),
            var t when t == typeof(long) => await Read<long>(v => v is >= int.MinValue and <= int.MaxValue ? (int)v : throw new DatasetException($"{path}: label {v} in column '{field.Name}' is out of range.")),
            var t when t == typeof(short) => await Read<short>(v => v),
            var t when t == typeof(byte) => await Read<byte>(v => v),
            var t when t == typeof(sbyte) => await Read<sbyte>(v => v),
            var t => throw new DatasetException($"{path}: column '{field.Name}' holds {t.Name}; labels must be integer class ids."),
        };
    }

    /// <summary>An unlabelled text gets label -1, which never leaves this class: <see cref="ReadTexts"/> drops it.</summary>
    private static TextExample Validated(string path, string where, string? text, string textColumn, int? label, int line)
    {
        var separator = where.StartsWith("row", StringComparison.Ordinal) ? ": " : ":";
        if (string.IsNullOrWhiteSpace(text)) throw new DatasetException($"{path}{separator}{where}: empty text in '{textColumn}'.");
        if (label < 0) throw new DatasetException($"{path}{separator}{where}: label {label} is negative; class ids start at 0.");
        return new TextExample(text, label ?? -1, line);
    }
}
