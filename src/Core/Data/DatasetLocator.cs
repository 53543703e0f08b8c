namespace ExperimentGrid.Core.Data;

/// <summary>
/// Resolves a --dataset value. A name (rotten_tomatoes) is a directory under the data root; a path to a directory
/// or to a single file always works. The data root is --data-root, else $EXPERIMENTGRID_DATA, else
/// ../shared/datasets beside the repository that holds the running binaries or the working directory.
/// </summary>
public static class DatasetLocator
{
    public const string DataRootVariable = "EXPERIMENTGRID_DATA";
    public static readonly IReadOnlyList<string> Extensions = [".jsonl", ".csv", ".parquet"];

    public static string DefaultDataRoot()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(DataRootVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment)) return Path.GetFullPath(fromEnvironment);
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "ExperimentGrid.sln")))
                    return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "datasets"));
            }
        }
        return Path.GetFullPath(Path.Combine(Directory.GetCurrentDirectory(), "..", "shared", "datasets"));
    }

    /// <summary>Conventional names of the same split; conll2003 calls its validation split "valid".</summary>
    private static readonly string[][] SplitAliases = [["validation", "valid", "dev"]];

    /// <summary>
    /// The file holding <paramref name="split"/> of <paramref name="dataset"/>: a file named exactly so, or the split
    /// name with one of <paramref name="extensions"/> (jsonl, csv, parquet by default); validation, valid and dev stand
    /// for one another.
    /// </summary>
    public static string ResolveSplit(string dataset, string split, string? dataRoot = null, IReadOnlyList<string>? extensions = null)
    {
        extensions ??= Extensions;
        if (File.Exists(dataset)) return Path.GetFullPath(dataset);
        var root = dataRoot ?? DefaultDataRoot();
        var directory = Directory.Exists(dataset) && (Path.IsPathRooted(dataset) || dataset.Contains(Path.DirectorySeparatorChar) || dataset.StartsWith('.'))
            ? Path.GetFullPath(dataset)
            : Path.Combine(root, dataset);
        if (!Directory.Exists(directory))
        {
            var known = Directory.Exists(root) ? string.Join(", ", Directory.EnumerateDirectories(root).Select(Path.GetFileName).Order()) : "none: the root does not exist";
            throw new DirectoryNotFoundException(
                $"dataset '{dataset}': no such file or directory, and no {directory} under the data root {root} (datasets there: {known}). " +
                $"Pass a path, --data-root, or set {DataRootVariable}.");
        }
        var names = SplitAliases.FirstOrDefault(a => a.Contains(split)) is { } aliases ? aliases.Prepend(split).Distinct() : [split];
        foreach (var name in names)
        {
            if (File.Exists(Path.Combine(directory, name))) return Path.Combine(directory, name);
            foreach (var extension in extensions)
            {
                var candidate = Path.Combine(directory, name + extension);
                if (File.Exists(candidate)) return candidate;
            }
        }
        var present = string.Join(", ", Directory.EnumerateFiles(directory).Select(Path.GetFileName).Order());
        throw new FileNotFoundException($"dataset '{dataset}': no split '{split}' in {directory} (looked for {split} with {string.Join(", ", extensions)}; found: {present}).");
    }
}
