using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace ExperimentGrid.Core.Modeling;

/// <summary>
/// A Hugging Face BERT config.json. Keys this type does not model are kept in <see cref="Extra"/> and written back
/// unchanged, so a directory loaded and saved here stays loadable by transformers.
/// </summary>
public sealed class BertConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; set; } = "bert";
    [JsonPropertyName("architectures")] public List<string>? Architectures { get; set; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; set; } = 30522;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; set; } = 768;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; set; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; set; } = 12;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; set; } = 3072;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; set; } = "gelu";
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropoutProb { get; set; } = 0.1;
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionProbsDropoutProb { get; set; } = 0.1;
    [JsonPropertyName("classifier_dropout")] public double? ClassifierDropout { get; set; }
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; set; } = 512;
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; set; } = 2;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; set; } = 0.02;
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; set; } = 1e-12;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; set; }
    [JsonPropertyName("position_embedding_type")] public string PositionEmbeddingType { get; set; } = "absolute";
    [JsonPropertyName("id2label")] public Dictionary<string, string>? Id2Label { get; set; }
    [JsonPropertyName("label2id")] public Dictionary<string, int>? Label2Id { get; set; }

    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    [JsonIgnore] public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Label names ordered by id; "LABEL_i" where the config names none, as transformers does.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> Labels =>
        Id2Label is null
            ? []
            : [.. Enumerable.Range(0, Id2Label.Count).Select(i => Id2Label.TryGetValue(i.ToString(), out var name) ? name : $"LABEL_{i}")];

    public void SetLabels(IReadOnlyList<string> labels)
    {
        Id2Label = labels.Select((name, id) => (name, id)).ToDictionary(p => p.id.ToString(), p => p.name);
        Label2Id = labels.Select((name, id) => (name, id)).ToDictionary(p => p.name, p => p.id);
    }

    public BertConfig Clone() => JsonSerializer.Deserialize<BertConfig>(JsonSerializer.Serialize(this, JsonOptions), JsonOptions)!;

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    public static BertConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: model config not found.", path);
        BertConfig? config;
        JsonObject? fields;
        try
        {
            fields = JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
            config = fields?.Deserialize<BertConfig>(JsonOptions);
        }
        catch (JsonException e) when (e.Path is { Length: > 2 } field && e.Message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal))
        {
            // The JSON is fine; one field holds the wrong kind of value. Name it, without the reader's byte position.
            throw new InvalidDataException($"{path}:{e.LineNumber + 1}: {field[2..]}: {e.Message.Split(" Path:")[0]}", e);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: invalid JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {e.Message.Split(" LineNumber:")[0]}", e);
        }
        if (fields is null || config is null) throw new InvalidDataException($"{path}: empty model config.");
        // transformers would fill these from BERT-base's defaults, which fit no other model's weights: the load would
        // fail later with a shape mismatch on every tensor instead of naming the field.
        var missing = SizeFields.Where(f => !fields.ContainsKey(f)).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{path}: lacks {string.Join(", ", missing)}; a BERT config.json states the model's sizes.");
        config.Validate(path);
        return config;
    }

    private static readonly string[] SizeFields = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"];

    public void Save(string path)
    {
        var node = JsonSerializer.SerializeToNode(this, JsonOptions)!.AsObject();
        var sorted = new JsonObject(node.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));
        File.WriteAllText(path, sorted.ToJsonString(JsonOptions) + "\n");
    }

    public void Validate(string source)
    {
        var problems = new List<string>();
        if (ModelType is not ("bert")) problems.Add($"model_type '{ModelType}' is not supported (only 'bert')");
        if (HiddenSize <= 0 || NumAttentionHeads <= 0 || HiddenSize % NumAttentionHeads != 0)
            problems.Add($"hidden_size {HiddenSize} must be a positive multiple of num_attention_heads {NumAttentionHeads}");
        if (NumHiddenLayers <= 0) problems.Add($"num_hidden_layers must be positive, got {NumHiddenLayers}");
        if (VocabSize <= 0) problems.Add($"vocab_size must be positive, got {VocabSize}");
        if (HiddenAct is not ("gelu" or "relu" or "gelu_new" or "gelu_pytorch_tanh"))
            problems.Add($"hidden_act '{HiddenAct}' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)");
        if (PositionEmbeddingType != "absolute")
            problems.Add($"position_embedding_type '{PositionEmbeddingType}' is not supported (only 'absolute')");
        if (problems.Count > 0)
            throw new InvalidDataException($"{source}: {string.Join("; ", problems)}.");
    }
}
