using System.Text.Json;
using System.Text.Json.Nodes;
using ExperimentGrid.Core.Tokenization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Modeling;

/// <summary>
/// A Hugging Face model directory: config.json, model.safetensors (or a sharded model.safetensors.index.json) and
/// the tokenizer files. The same layout is what <see cref="Save"/> writes, so a model trained here loads in Python
/// with from_pretrained, and a transformers checkpoint loads here as it is.
/// </summary>
public sealed class ModelDirectory
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    public const string ShardIndexFile = "model.safetensors.index.json";

    public string Path { get; }
    public BertConfig Config { get; }
    public TextTokenizer Tokenizer { get; }

    private ModelDirectory(string path, BertConfig config, TextTokenizer tokenizer)
    {
        Path = path;
        Config = config;
        Tokenizer = tokenizer;
    }

    public static ModelDirectory Open(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"{full}: model directory not found.");
        var config = BertConfig.Load(System.IO.Path.Combine(full, ConfigFile));
        if (!File.Exists(System.IO.Path.Combine(full, WeightsFile)) && !File.Exists(System.IO.Path.Combine(full, ShardIndexFile)))
        {
            var pickle = File.Exists(System.IO.Path.Combine(full, "pytorch_model.bin"))
                ? " It has pytorch_model.bin, a pickle checkpoint, which is never loaded because unpickling runs code; convert it once with transformers (model.save_pretrained(dir, safe_serialization=True))."
                : "";
            throw new FileNotFoundException($"{full}: no {WeightsFile} or {ShardIndexFile}.{pickle}");
        }
        return new ModelDirectory(full, config, TextTokenizer.FromDirectory(full));
    }

    /// <summary>Every tensor of the checkpoint, on the CPU, with its checkpoint name.</summary>
    public Dictionary<string, Tensor> ReadWeights()
    {
        var single = System.IO.Path.Combine(Path, WeightsFile);
        if (File.Exists(single)) return Safetensors.Load(single);

        var indexPath = System.IO.Path.Combine(Path, ShardIndexFile);
        JsonObject map;
        try
        {
            map = JsonNode.Parse(File.ReadAllText(indexPath))?["weight_map"]?.AsObject()
                ?? throw new InvalidDataException($"{indexPath}: no weight_map.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{indexPath}: invalid JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {e.Message.Split(" LineNumber:")[0]}", e);
        }
        var all = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var shard in map.Select(p => p.Value!.GetValue<string>()).Distinct())
            foreach (var (name, tensor) in Safetensors.Load(System.IO.Path.Combine(Path, shard))) all[name] = tensor;
        return all;
    }

    /// <summary>
    /// Copies checkpoint tensors into <paramref name="model"/>'s parameters, matching names as transformers does:
    /// a base-model checkpoint (no "bert." prefix) loads into a head model and the other way round, and the legacy
    /// LayerNorm names gamma/beta mean weight/bias. Head parameters the checkpoint lacks keep their fresh
    /// initialisation and are reported; any other missing parameter or a shape mismatch is an error naming the key.
    /// </summary>
    public static WeightLoadReport LoadWeights(nn.Module model, IReadOnlyDictionary<string, Tensor> checkpoint, string source,
        IReadOnlyList<string> headPrefixes, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        var loaded = new HashSet<string>(StringComparer.Ordinal);
        var unused = new List<string>();
        var mismatches = new List<string>();

        using (no_grad())
        {
            foreach (var (key, value) in checkpoint)
            {
                var target = Candidates(NormaliseLegacyName(key)).FirstOrDefault(parameters.ContainsKey);
                if (target is null)
                {
                    unused.Add(key);
                    continue;
                }
                var parameter = parameters[target];
                if (!parameter.shape.SequenceEqual(value.shape))
                {
                    mismatches.Add($"{key}: checkpoint [{string.Join(", ", value.shape)}], model [{string.Join(", ", parameter.shape)}]");
                    continue;
                }
                parameter.copy_(value);
                loaded.Add(target);
            }
        }
        if (mismatches.Count > 0)
            throw new InvalidDataException($"{source}: shape mismatch for {mismatches.Count} tensor(s): {string.Join("; ", mismatches.Take(4))}{(mismatches.Count > 4 ? "; ..." : "")}.");

        var missing = parameters.Keys.Where(k => !loaded.Contains(k)).ToList();
        var fresh = missing.Where(k => headPrefixes.Any(k.StartsWith)).ToList();
        var absent = missing.Except(fresh).ToList();
        if (absent.Count > 0)
            throw new InvalidDataException($"{source}: checkpoint lacks {absent.Count} encoder tensor(s): {string.Join(", ", absent.Take(8))}{(absent.Count > 8 ? ", ..." : "")}.");
        if (fresh.Count > 0)
            logger.LogInformation("Newly initialised (not in {Source}): {Keys}. Train them before relying on predictions.", source, string.Join(", ", fresh));
        if (unused.Count > 0)
            logger.LogInformation("Not used from {Source}: {Keys}.", source, string.Join(", ", unused.Take(12)));
        return new WeightLoadReport(loaded.Count, fresh, unused);
    }

    private static string NormaliseLegacyName(string key) =>
        key.EndsWith(".gamma", StringComparison.Ordinal) ? key[..^".gamma".Length] + ".weight"
        : key.EndsWith(".beta", StringComparison.Ordinal) ? key[..^".beta".Length] + ".bias"
        : key;

    private static IEnumerable<string> Candidates(string key)
    {
        yield return key;
        if (key.StartsWith("bert.", StringComparison.Ordinal)) yield return key["bert.".Length..];
        else yield return "bert." + key;
    }

    /// <summary>Builds a head model of type <typeparamref name="THead"/> from this directory's weights.</summary>
    public THead LoadModel<THead>(Func<BertConfig, THead> create, ILogger? logger = null)
        where THead : nn.Module, IEncoderHead =>
        LoadInto(create(Config), THead.HeadPrefixes, logger);

    /// <summary>The bare encoder (no task head) from this directory's weights; a head checkpoint's extra keys are ignored.</summary>
    public BertModel LoadEncoder(bool addPoolingLayer, ILogger? logger = null) =>
        LoadInto(new BertModel(Config, addPoolingLayer), [], logger);

    private TModule LoadInto<TModule>(TModule model, IReadOnlyList<string> headPrefixes, ILogger? logger) where TModule : nn.Module
    {
        using (NewDisposeScope()) LoadWeights(model, ReadWeights(), Path, headPrefixes, logger);
        return model;
    }

    /// <summary>Writes config.json, model.safetensors and the tokenizer files of a head model into <paramref name="path"/>.</summary>
    public static void Save<THead>(string path, THead model, BertConfig config, TextTokenizer tokenizer)
        where THead : nn.Module, IEncoderHead
    {
        Directory.CreateDirectory(path);
        var saved = config.Clone();
        saved.Architectures = [THead.Architecture];
        using var scope = NewDisposeScope();
        var state = model.state_dict();
        Safetensors.Save(System.IO.Path.Combine(path, WeightsFile), state, new Dictionary<string, string> { ["format"] = "pt" });
        saved.Save(System.IO.Path.Combine(path, ConfigFile));
        tokenizer.SaveTo(path);
    }
}

public sealed record WeightLoadReport(int Loaded, IReadOnlyList<string> NewlyInitialised, IReadOnlyList<string> Unused);
