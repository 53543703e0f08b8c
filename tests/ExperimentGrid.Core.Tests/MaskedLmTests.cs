using System.Buffers.Binary;
using System.Text.Json.Nodes;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Inference;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

[Collection(ModelCollection.Name)]
public sealed class MaskedLmTests(ModelFixture models) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("maskedlm-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static readonly string[] Sentences =
    [
        "the good movie", "a bad film", "the great plot .", "a awful movie", "the good films", "a great film .",
        "the bad plot", "a good movie .",
    ];

    private static BertForMaskedLM TinyModel(int seed)
    {
        random.manual_seed(seed);
        return new BertForMaskedLM(TinyBert.Config());
    }

    private static (Tensor Ids, Tensor Mask, Tensor Types) Inputs()
    {
        // Token 9 ("great") appears in no input, so only the decoder reads its embedding row.
        var ids = tensor(new long[] { 2, 11, 5, 7, 3, 2, 6, 8, 3, 0 }, 2, 5);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 }, 2, 5);
        return (ids, mask, zeros_like(ids));
    }

    private static IReadOnlyList<string> HeaderKeys(string safetensorsPath)
    {
        var bytes = File.ReadAllBytes(safetensorsPath);
        var header = JsonNode.Parse(bytes.AsSpan(8, (int)BinaryPrimitives.ReadInt64LittleEndian(bytes)))!.AsObject();
        return [.. header.Select(p => p.Key).Where(k => k != "__metadata__")];
    }

    [Fact]
    public void State_dict_keys_are_transformers_bert_for_masked_lm_keys()
    {
        using var model = TinyModel(1);
        var keys = model.state_dict().Keys.ToList();
        string[] expectedOutsideLayers =
        [
            "bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
            "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias",
            "cls.predictions.bias", "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
            "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
        ];
        Assert.Equal(expectedOutsideLayers.Order(), keys.Where(k => !k.StartsWith("bert.encoder.", StringComparison.Ordinal)).Order());
        using var encoder = new BertModel(TinyBert.Config(), addPoolingLayer: false);
        Assert.Equal(encoder.state_dict().Keys.Where(k => k.StartsWith("encoder.", StringComparison.Ordinal)).Select(k => "bert." + k).Order(),
            keys.Where(k => k.StartsWith("bert.encoder.", StringComparison.Ordinal)).Order());
        Assert.Equal(keys.Order(), model.named_parameters().Select(p => p.name).Order());
    }

    [Fact]
    public void The_decoder_is_the_word_embedding_matrix()
    {
        using var model = TinyModel(2);
        model.eval();
        var (ids, mask, types) = Inputs();
        var embedding = model.Bert.WordEmbeddings.weight!;
        float[] before, after;
        using (no_grad())
        {
            before = model.call(ids, mask, types).data<float>().ToArray();
            embedding[9].mul_(3);
            after = model.call(ids, mask, types).data<float>().ToArray();
        }
        var vocab = TinyBert.Vocabulary.Length;
        var real = mask.data<long>().ToArray();
        for (var i = 0; i < before.Length; i++)
        {
            // A padded position's hidden state is zero, and so its logits are the bias alone.
            if (i % vocab == 9 && real[i / vocab] == 1) Assert.NotEqual(before[i], after[i]);
            else Assert.Equal(before[i], after[i]);
        }

        // Gradient reaches the row of a token absent from the input: only through the decoder.
        model.train();
        var labels = tensor(new long[] { -100, 9, -100, -100, -100, -100, -100, 9, -100, -100 }, 2, 5);
        model.Loss(ids, mask, types, labels).backward();
        Assert.True(embedding.grad![9].abs().sum().item<float>() > 0, "no gradient from the decoder into the embedding row");
    }

    [Fact]
    public void Logits_at_labelled_positions_match_the_full_forward_and_an_empty_mask_gives_zero_loss()
    {
        using var model = TinyModel(3);
        model.eval();
        var (ids, mask, types) = Inputs();
        var labels = tensor(new long[] { -100, 5, 12, -100, -100, -100, 6, -100, -100, -100 }, 2, 5);
        using var noGrad = no_grad();
        var full = model.call(ids, mask, types);
        // transformers' masked_lm_loss: every position's logits, with ignore_index -100.
        var reference = nn.functional.cross_entropy(full.view(-1, full.shape[^1]), labels.view(-1), ignore_index: -100).item<float>();
        Assert.Equal(reference, model.Loss(ids, mask, types, labels).item<float>(), 5);

        var nothing = full_like(labels, -100L);
        Assert.Equal(0f, model.Loss(ids, mask, types, nothing).item<float>());
    }

    [Fact]
    public void Save_and_load_round_trip_to_identical_logits_without_a_decoder_alias()
    {
        using var original = TinyModel(4);
        using (no_grad())
            original.named_parameters().Single(p => p.name == "cls.predictions.bias").parameter.normal_();
        var path = Path.Combine(_directory, "mlm");
        ModelDirectory.Save(path, original, TinyBert.Config(), TinyBert.Tokenizer());

        var keys = HeaderKeys(Path.Combine(path, ModelDirectory.WeightsFile));
        Assert.Contains("cls.predictions.bias", keys);
        Assert.Contains("bert.embeddings.word_embeddings.weight", keys);
        Assert.DoesNotContain("cls.predictions.decoder.weight", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("bert.pooler.", StringComparison.Ordinal));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(path, ModelDirectory.ConfigFile)))!;
        Assert.Equal("BertForMaskedLM", config["architectures"]![0]!.GetValue<string>());

        using var reloaded = ModelDirectory.Open(path).LoadModel(c => new BertForMaskedLM(c));
        original.eval();
        reloaded.eval();
        var (ids, mask, types) = Inputs();
        using var noGrad = no_grad();
        Assert.Equal(original.call(ids, mask, types).data<float>().ToArray(), reloaded.call(ids, mask, types).data<float>().ToArray());
    }

    [Fact]
    public void A_checkpoint_carrying_the_tied_decoder_aliases_loads_with_them_unused()
    {
        using var source = TinyModel(5);
        var checkpoint = new Dictionary<string, Tensor>(source.state_dict())
        {
            // Older transformers checkpoints (pytorch_model.bin) store the tied tensors under both names.
            ["cls.predictions.decoder.weight"] = source.Bert.WordEmbeddings.weight!.detach().clone(),
            ["cls.predictions.decoder.bias"] = source.state_dict()["cls.predictions.bias"].detach().clone(),
        };
        using var model = TinyModel(6);
        var report = ModelDirectory.LoadWeights(model, checkpoint, "old", BertForMaskedLM.HeadPrefixes);
        Assert.Empty(report.NewlyInitialised);
        Assert.Equal(["cls.predictions.decoder.bias", "cls.predictions.decoder.weight"], report.Unused.Order());
    }

    [Fact]
    public void Untied_checkpoints_are_refused()
    {
        var config = TinyBert.Config();
        config.Extra = new() { ["tie_word_embeddings"] = System.Text.Json.JsonSerializer.SerializeToElement(false) };
        var error = Assert.Throws<NotSupportedException>(() => new BertForMaskedLM(config));
        Assert.Contains("tie_word_embeddings", error.Message);
    }

    [Fact]
    public void Minilm_loads_with_a_freshly_initialised_and_reported_head()
    {
        var directory = models.Open("minilm");
        using var model = new BertForMaskedLM(directory.Config);
        var weights = directory.ReadWeights();
        WeightLoadReport report;
        try
        {
            report = ModelDirectory.LoadWeights(model, weights, directory.Path, BertForMaskedLM.HeadPrefixes);
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }
        Assert.Equal(
            ["cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias", "cls.predictions.transform.LayerNorm.weight",
                "cls.predictions.transform.dense.bias", "cls.predictions.transform.dense.weight"],
            report.NewlyInitialised.Order(StringComparer.Ordinal));
        Assert.Contains("pooler.dense.weight", report.Unused);

        var logger = new ListLogger();
        using var loaded = directory.LoadModel(c => new BertForMaskedLM(c), logger);
        Assert.Contains(logger.Messages, m => m.StartsWith("Newly initialised", StringComparison.Ordinal) && m.Contains("cls.predictions.bias"));
    }

    [Fact]
    public void Fill_mask_returns_k_descending_candidates_and_the_filled_text()
    {
        using var fill = FillMask.Load(models.MiniLmDirectory, device: "cpu");
        const string text = "What a horrible [MASK]!";
        var results = fill.Predict(text);
        Assert.Equal(5, results.Count);
        Assert.True(results.Sum(r => r.Score) <= 1 + 1e-6);
        for (var k = 1; k < results.Count; k++) Assert.True(results[k - 1].Score >= results[k].Score);
        foreach (var result in results)
        {
            Assert.InRange(result.Score, 0, 1);
            Assert.Equal(text.Replace("[MASK]", result.Token.TrimStart('#'), StringComparison.Ordinal), result.Sequence);
        }
        Assert.Equal(2, fill.Predict(text, topK: 2).Count);

        var none = Assert.Throws<ArgumentException>(() => fill.Predict("What a horrible movie!"));
        Assert.Contains("exactly one [MASK] in the text, found 0", none.Message);
        var two = Assert.Throws<ArgumentException>(() => fill.Predict("[MASK] a horrible [MASK]!"));
        Assert.Contains("exactly one [MASK] in the text, found 2", two.Message);
    }

    [Fact]
    public void A_few_steps_of_masked_lm_training_lower_the_loss_on_the_training_sentences()
    {
        var tokenizer = TinyBert.Tokenizer();
        var vocabulary = MaskingVocabulary.Of(tokenizer);
        var sequences = Sentences.Select(s => tokenizer.Encode(s, 16)).ToList();
        var evaluation = new MaskedSequences(sequences, vocabulary, MaskingStrategy.Token, 0.15, seed: 1234).Epoch(0);
        var training = new MaskedSequences(sequences, vocabulary, MaskingStrategy.Token, 0.15, seed: 7);

        using var model = TinyModel(8);
        var before = MaskedLmEvaluation.Evaluate(model, evaluation, tokenizer.PadId, CPU);
        using var optimizer = Optimization.AdamW(model, learningRate: 3e-3, weightDecay: 0.01);
        model.train();
        for (var step = 0; step < 20; step++)
        {
            using var scope = NewDisposeScope();
            using var batch = Batching.CollateTokens(training.Epoch(step), tokenizer.PadId, CPU);
            var loss = model.Loss(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.Labels);
            optimizer.ZeroGrad();
            loss.backward();
            optimizer.Step();
        }
        var after = MaskedLmEvaluation.Evaluate(model, evaluation, tokenizer.PadId, CPU);

        Assert.Equal(before.MaskedTokens, after.MaskedTokens);
        Assert.Equal(Math.Exp(after.Loss), after.Perplexity, 6);
        Assert.True(after.Loss < before.Loss - 0.3, $"masked-LM loss {before.Loss:F4} → {after.Loss:F4}");
        // The mean over masked positions does not depend on how they are batched.
        Assert.Equal(after.Loss, MaskedLmEvaluation.Evaluate(model, evaluation, tokenizer.PadId, CPU, batchSize: 1).Loss, 5);
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Add(formatter(state, exception));
    }
}
