namespace ExperimentGrid.TestSupport;

/// <summary>The checkout the tests run from, for tests of the files it ships: README, examples, deploy files.</summary>
public static class Repository
{
    private static readonly Lazy<string> FoundRoot = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "ExperimentGrid.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no ExperimentGrid.sln above {AppContext.BaseDirectory}");
    });

    public static string Root => FoundRoot.Value;

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);
}
