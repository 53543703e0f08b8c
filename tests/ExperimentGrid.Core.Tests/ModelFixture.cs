using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Modeling;

namespace ExperimentGrid.Core.Tests;

/// <summary>Imports the bundled models once per test run into a cache beside the test binaries.</summary>
public sealed class ModelFixture
{
    public static string CacheRoot { get; } = Path.Combine(AppContext.BaseDirectory, "model-cache");

    private static readonly Lazy<string> MiniLm = new(() => BundledModels.EnsureImported(BundledModels.Find("minilm")!, cacheRoot: CacheRoot));
    private static readonly Lazy<string> ArcticXs = new(() => BundledModels.EnsureImported(BundledModels.Find("arctic-xs")!, cacheRoot: CacheRoot));

    public string MiniLmDirectory => MiniLm.Value;
    public string ArcticXsDirectory => ArcticXs.Value;

    public string DirectoryOf(string name) => name == "minilm" ? MiniLmDirectory : ArcticXsDirectory;

    public ModelDirectory Open(string name) => ModelDirectory.Open(DirectoryOf(name));
}

[CollectionDefinition(Name)]
public sealed class ModelCollection : ICollectionFixture<ModelFixture>
{
    public const string Name = "bundled models";
}
