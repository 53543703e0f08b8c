using YamlDotNet.RepresentationModel;

namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// The line of every key and list item of a YAML document, by its path (grid.freeze[2]). The deserializer keeps no
/// positions, so problems found after reading are pointed at their lines from this second, positional read.
/// </summary>
internal sealed class SourceLines
{
    private readonly Dictionary<string, long> _lines = [];

    public static SourceLines None { get; } = new();

    public static SourceLines Read(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        var lines = new SourceLines();
        if (stream.Documents.Count > 0) lines.Walk(stream.Documents[0].RootNode, "");
        return lines;
    }

    /// <summary>"grid.freeze[2] (line 9)", or the bare path where it was not written in a file.</summary>
    public string Locate(string path) => _lines.TryGetValue(path, out var line) ? $"{path} (line {line})" : path;

    /// <summary>The line of the path itself; null where it was not written in a file.</summary>
    public long? Line(string path) => _lines.TryGetValue(path, out var line) ? line : null;

    /// <summary>The line of the path or of its nearest written parent (grid.freeze for grid.freeze[2]); null if none.</summary>
    public long? Nearest(string path)
    {
        for (var current = path; current.Length > 0; current = current[..Math.Max(0, current.LastIndexOfAny(['.', '[']))])
            if (_lines.TryGetValue(current, out var line)) return line;
        return null;
    }

    private void Walk(YamlNode node, string path)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    var child = path.Length == 0 ? key.ToString() : $"{path}.{key}";
                    _lines.TryAdd(child, key.Start.Line);
                    Walk(value, child);
                }
                break;
            case YamlSequenceNode sequence:
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    var child = $"{path}[{i}]";
                    _lines.TryAdd(child, sequence.Children[i].Start.Line);
                    Walk(sequence.Children[i], child);
                }
                break;
        }
    }
}
