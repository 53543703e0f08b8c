using System.Buffers.Binary;
using System.Text.Json.Nodes;
using ExperimentGrid.Core.Modeling;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

public sealed class ModelDirectoryTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("modeldir-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static (Tensor Ids, Tensor Mask, Tensor Types) Inputs()
    {
        var ids = tensor(new long[] { 2, 11, 5, 7, 3, 2, 6, 8, 3, 0 }, 2, 5);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 }, 2, 5);
        return (ids, mask, zeros_like(ids));
    }

    private string SaveClassifier(out BertForSequenceClassification model)
    {
        random.manual_seed(7);
        var config = TinyBert.Config();
        config.SetLabels(["neg", "pos"]);
        model = new BertForSequenceClassification(config, 2);
        var path = Path.Combine(_directory, "classifier");
        ModelDirectory.Save(path, model, config, TinyBert.Tokenizer());
        return path;
    }

    [Fact]
    public void A_saved_classifier_reloads_to_identical_logits()
    {
        var path = SaveClassifier(out var original);
        var reopened = ModelDirectory.Open(path);
        using var reloaded = reopened.LoadModel(c => new BertForSequenceClassification(c, 2));
        original.eval();
        reloaded.eval();
        var (ids, mask, types) = Inputs();
        using var noGrad = no_grad();
        Assert.Equal(original.call(ids, mask, types).data<float>().ToArray(), reloaded.call(ids, mask, types).data<float>().ToArray());
        Assert.Equal(["neg", "pos"], reopened.Config.Labels);
    }

    [Fact]
    public void Saved_layout_is_what_transformers_from_pretrained_reads()
    {
        var path = SaveClassifier(out _);
        foreach (var file in new[] { "config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json" })
            Assert.True(File.Exists(Path.Combine(path, file)), $"{file} missing");

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(path, "config.json")))!;
        Assert.Equal("BertForSequenceClassification", config["architectures"]![0]!.GetValue<string>());
        Assert.Equal("bert", config["model_type"]!.GetValue<string>());
        Assert.Equal("pos", config["id2label"]!["1"]!.GetValue<string>());
        Assert.Equal(0, config["label2id"]!["neg"]!.GetValue<int>());

        // Read the safetensors header directly, independent of our reader: the keys must be transformers' own.
        var bytes = File.ReadAllBytes(Path.Combine(path, "model.safetensors"));
        var header = JsonNode.Parse(bytes.AsSpan(8, (int)BinaryPrimitives.ReadInt64LittleEndian(bytes)))!.AsObject();
        Assert.Contains("bert.embeddings.word_embeddings.weight", header.Select(p => p.Key));
        Assert.Contains("bert.encoder.layer.1.attention.self.query.weight", header.Select(p => p.Key));
        Assert.Contains("bert.encoder.layer.0.attention.output.LayerNorm.weight", header.Select(p => p.Key));
        Assert.Contains("bert.encoder.layer.0.output.dense.bias", header.Select(p => p.Key));
        Assert.Contains("bert.pooler.dense.weight", header.Select(p => p.Key));
        Assert.Contains("classifier.weight", header.Select(p => p.Key));
        Assert.Equal("F32", header["classifier.weight"]!["dtype"]!.GetValue<string>());
    }

    [Fact]
    public void A_bert_prefixed_checkpoint_loads_into_a_bare_encoder_and_legacy_gamma_beta_names_are_understood()
    {
        var path = SaveClassifier(out var original);
        var weights = Safetensors.Load(Path.Combine(path, "model.safetensors"));
        var legacy = weights.ToDictionary(
            p => p.Key.Replace("LayerNorm.weight", "LayerNorm.gamma").Replace("LayerNorm.bias", "LayerNorm.beta"), p => p.Value);
        using var encoder = new BertModel(TinyBert.Config());
        var report = ModelDirectory.LoadWeights(encoder, legacy, path, []);
        Assert.Contains("classifier.weight", report.Unused);

        encoder.eval();
        original.eval();
        var (ids, mask, types) = Inputs();
        using var noGrad = no_grad();
        Assert.Equal(original.Bert.call(ids, mask, types).data<float>().ToArray(), encoder.call(ids, mask, types).data<float>().ToArray());
    }

    [Fact]
    public void A_base_checkpoint_loads_into_a_classifier_and_only_the_head_is_new()
    {
        var encoderOnly = new Dictionary<string, Tensor>(new BertModel(TinyBert.Config()).state_dict());
        using var model = new BertForSequenceClassification(TinyBert.Config(), 3);
        var report = ModelDirectory.LoadWeights(model, encoderOnly, "base", BertForSequenceClassification.HeadPrefixes);
        Assert.Equal(["classifier.bias", "classifier.weight"], report.NewlyInitialised.Order());
    }

    [Fact]
    public void A_missing_encoder_tensor_or_a_wrong_shape_is_an_error_naming_the_key()
    {
        var weights = new Dictionary<string, Tensor>(new BertModel(TinyBert.Config()).state_dict());
        weights.Remove("encoder.layer.1.intermediate.dense.weight");
        using var model = new BertModel(TinyBert.Config());
        var missing = Assert.Throws<InvalidDataException>(() => ModelDirectory.LoadWeights(model, weights, "ckpt", []));
        Assert.Contains("encoder.layer.1.intermediate.dense.weight", missing.Message);

        weights["encoder.layer.1.intermediate.dense.weight"] = zeros(7, 7);
        var shape = Assert.Throws<InvalidDataException>(() => ModelDirectory.LoadWeights(model, weights, "ckpt", []));
        Assert.Contains("encoder.layer.1.intermediate.dense.weight: checkpoint [7, 7], model [64, 32]", shape.Message);
    }

    [Fact]
    public void Directories_without_safetensors_or_with_a_broken_config_are_explained()
    {
        var pickle = Directory.CreateDirectory(Path.Combine(_directory, "pickle")).FullName;
        TinyBert.Config().Save(Path.Combine(pickle, "config.json"));
        File.WriteAllBytes(Path.Combine(pickle, "pytorch_model.bin"), [0x80, 0x02]);
        var error = Assert.Throws<FileNotFoundException>(() => ModelDirectory.Open(pickle));
        Assert.Contains("pickle checkpoint, which is never loaded", error.Message);

        var broken = Directory.CreateDirectory(Path.Combine(_directory, "broken")).FullName;
        File.WriteAllText(Path.Combine(broken, "config.json"), "{\n  \"hidden_size\": 32,\n  oops\n}");
        var config = Assert.Throws<InvalidDataException>(() => ModelDirectory.Open(broken));
        Assert.Contains(Path.Combine(broken, "config.json") + ": invalid JSON at line 3", config.Message);

        Assert.Throws<DirectoryNotFoundException>(() => ModelDirectory.Open(Path.Combine(_directory, "absent")));
    }

    [Fact]
    public void Unsupported_architectures_are_rejected_by_name()
    {
        var config = TinyBert.Config();
        config.HiddenAct = "swish";
        config.NumAttentionHeads = 5;
        var error = Assert.Throws<InvalidDataException>(() => config.Validate("config.json"));
        Assert.Contains("hidden_act 'swish'", error.Message);
        Assert.Contains("multiple of num_attention_heads 5", error.Message);
    }
}
