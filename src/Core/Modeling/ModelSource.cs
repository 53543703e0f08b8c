using ExperimentGrid.Core.Import;
using Microsoft.Extensions.Logging;

namespace ExperimentGrid.Core.Modeling;

/// <summary>Turns a --model value into a model directory: a bundled model's name, or a path.</summary>
public static class ModelSource
{
    public static string Resolve(string model, ILogger? logger = null)
    {
        if (string.IsNullOrWhiteSpace(model)) throw new ArgumentException("model: a name or a directory is required.", nameof(model));
        if (BundledModels.Find(model) is { } bundled) return BundledModels.EnsureImported(bundled, logger);
        if (Directory.Exists(model)) return Path.GetFullPath(model);
        var names = string.Join(", ", BundledModels.All.Select(m => m.Name));
        throw new DirectoryNotFoundException($"model '{model}' is neither a bundled model ({names}) nor an existing directory ({Path.GetFullPath(model)}).");
    }

    public static ModelDirectory Open(string model, ILogger? logger = null) => ModelDirectory.Open(Resolve(model, logger));
}
