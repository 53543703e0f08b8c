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

    /// <summary>The file holding <paramref name="split"/> of <paramref name="dataset"/>.</summary>
    public static string ResolveSplit(string dataset, string split, string? dataRoot = null)
    {
        if (File.Exists(dataset))
        {
            return Path.GetFullPath(dataset);
        }
        var directory = Directory.Exists(dataset) && (Path.IsPathRooted(dataset) || dataset.Contains(Path.DirectorySeparatorChar) || dataset.StartsWith('.'))
            ? Path.GetFullPath(dataset)
            : Path.Combine(dataRoot ?? DefaultDataRoot(), dataset);
        if (!Directory.Exists(directory))
        {
            var root = dataRoot ?? DefaultDataRoot();
            var known = Directory.Exists(root) ? string.Join(", ", Directory.EnumerateDirectories(root).Select(Path.GetFileName).Order()) : "none: the root does not exist";
            throw new DirectoryNotFoundException(
                $"dataset '{dataset}': no such file or directory, and no {directory} under the data root {root} (datasets there: {known}). " +
                $"Pass a path, --data-root, or set {DataRootVariable}.");
        }
        foreach (var extension in Extensions)
        {
            var candidate = Path.Combine(directory, split + extension);
            if (File.Exists(candidate)) return candidate;
        }
        var present = string.Join(", ", Directory.EnumerateFiles(directory).Select(Path.GetFileName).Order());
        throw new FileNotFoundException($"dataset '{dataset}': no split '{split}' in {directory} (looked for {split}.jsonl, .csv, .parquet; found: {present}).");
    }
}
