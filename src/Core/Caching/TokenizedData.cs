using System.Runtime.InteropServices;
using ExperimentGrid.Core.Tokenization;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Core.Caching;

/// <summary>
/// Every row of a dataset file as token ids (and per-token labels, for token classification), encoded once per
/// tokenizer, max_length and file content, and read from the cache by every later trial on any silo that shares it.
/// </summary>
public static class TokenizedData
{
    public const string Kind = "tokens";
    private const string OffsetsFile = "offsets.bin";
    private const string IdsFile = "ids.bin";
    private const string LabelsFile = "labels.bin";

    /// <summary>
    /// The encoding of each of <paramref name="rows"/>, all of <paramref name="path"/>'s rows in file order.
    /// <paramref name="variant"/> names whatever else <paramref name="encode"/> depends on (the text column, the label
    /// names).
    /// </summary>
    public static IReadOnlyList<(int[] Ids, long[]? Labels)> Encode<T>(WorkCache cache, TextTokenizer tokenizer, int maxLength, string path, string variant,
        IReadOnlyList<T> rows, Func<T, (int[] Ids, long[]? Labels)> encode, ILogger logger)
    {
        var key = CacheStore.Key(Kind, "v1", tokenizer.Fingerprint, $"{maxLength}", CacheStore.HashFile(path), variant, $"{rows.Count}");
        var description = new Dictionary<string, string> { ["file"] = path, ["variant"] = variant, ["rows"] = $"{rows.Count}", ["max_length"] = $"{maxLength}" };
        var encodedHere = false;
        using var lease = cache.Store.GetOrCreate(Kind, key, description, directory =>
        {
            encodedHere = true;
            Write(directory, [.. rows.Select(encode)]);
        });
        var encoded = Read(lease.Directory);
        if (encoded.Count != rows.Count) throw new InvalidDataException($"{lease.Directory}: {encoded.Count} rows cached for the {rows.Count} of {path}");
        if (!encodedHere) logger.LogInformation("{Rows} rows of {File} read tokenized from the cache", rows.Count, path);
        return encoded;
    }

    private static void Write(string directory, IReadOnlyList<(int[] Ids, long[]? Labels)> rows)
    {
        var offsets = new long[rows.Count + 1];
        for (var i = 0; i < rows.Count; i++) offsets[i + 1] = offsets[i] + rows[i].Ids.Length;
        File.WriteAllBytes(Path.Combine(directory, OffsetsFile), MemoryMarshal.AsBytes(offsets.AsSpan()).ToArray());
        File.WriteAllBytes(Path.Combine(directory, IdsFile), MemoryMarshal.AsBytes(rows.SelectMany(r => r.Ids).ToArray().AsSpan()).ToArray());
        if (rows.Count > 0 && rows[0].Labels is not null)
            File.WriteAllBytes(Path.Combine(directory, LabelsFile), MemoryMarshal.AsBytes(rows.SelectMany(r => r.Labels!).ToArray().AsSpan()).ToArray());
    }

    private static List<(int[] Ids, long[]? Labels)> Read(string directory)
    {
        var offsets = MemoryMarshal.Cast<byte, long>(File.ReadAllBytes(Path.Combine(directory, OffsetsFile)));
        var ids = MemoryMarshal.Cast<byte, int>(File.ReadAllBytes(Path.Combine(directory, IdsFile)));
        var labelsPath = Path.Combine(directory, LabelsFile);
        var labels = File.Exists(labelsPath) ? MemoryMarshal.Cast<byte, long>(File.ReadAllBytes(labelsPath)).ToArray() : null;
        var rows = new List<(int[] Ids, long[]? Labels)>(offsets.Length - 1);
        for (var i = 0; i + 1 < offsets.Length; i++)
        {
            var (start, length) = ((int)offsets[i], (int)(offsets[i + 1] - offsets[i]));
            rows.Add((ids.Slice(start, length).ToArray(), labels?.AsSpan(start, length).ToArray()));
        }
        return rows;
    }
}
