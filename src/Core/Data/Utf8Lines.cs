using System.Text;

namespace ExperimentGrid.Core.Data;

/// <summary>
/// Reads a dataset's text strictly as UTF-8. A lenient decoder would put U+FFFD in place of each byte that is not
/// UTF-8 (a Latin-1 file, say) and train on the damaged text without a word; this one stops at the first such byte
/// and names its line and column.
/// </summary>
public static class Utf8Lines
{
    public static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The file's lines, numbered from 1 by their position in the sequence.</summary>
    public static IEnumerable<string> Read(string path)
    {
        using var reader = new StreamReader(path, Strict, detectEncodingFromByteOrderMarks: true);
        while (true)
        {
            string? line;
            try
            {
                line = reader.ReadLine();
            }
            catch (DecoderFallbackException)
            {
                throw Invalid(path);
            }
            if (line is null) yield break;
            yield return line;
        }
    }

    /// <summary>Whether <paramref name="e"/> is, or wraps, a strict decoder's refusal.</summary>
    public static bool IsInvalid(Exception e) => e is DecoderFallbackException || e.InnerException is DecoderFallbackException;

    /// <summary>The error for a file a strict decoder refused, naming the first byte that is not UTF-8 (found again, as a reader decodes ahead of its lines).</summary>
    public static DatasetException Invalid(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var (line, start) = (1, 0);
        for (var i = 0; i <= bytes.Length; i++)
        {
            if (i < bytes.Length && bytes[i] != (byte)'\n') continue;
            var content = bytes.AsSpan(start, i - start);
            try
            {
                Strict.GetCharCount(content);
            }
            catch (DecoderFallbackException e)
            {
                var at = Math.Clamp(e.Index, 0, content.Length);
                var column = Encoding.UTF8.GetCharCount(content[..at]) + 1;
                var bad = e.BytesUnknown is { Length: > 0 } unknown ? string.Join(" ", unknown.Select(b => $"0x{b:X2}")) : "?";
                return new DatasetException($"{path}:{line}: not valid UTF-8 (byte {bad} at column {column}); save the file as UTF-8.");
            }
            (line, start) = (line + 1, i + 1);
        }
        return new DatasetException($"{path}: not valid UTF-8; save the file as UTF-8.");
    }
}
