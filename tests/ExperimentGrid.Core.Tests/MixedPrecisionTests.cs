using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

/// <summary>bf16 mixed precision: bfloat16 matmuls and attention over fp32 weights, LayerNorm, loss and optimizer state.</summary>
[Collection(ModelCollection.Name)]
public sealed class MixedPrecisionTests(ModelFixture models) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("precision-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static readonly string[] Texts = ["a brisk, funny, deeply felt portrait of tokyo street life .", "short one .", "the plot is a tedious , lifeless mess"];

    private TrialSpec Spec(TaskKind task, ComputePrecision precision, string dataset = "rotten_tomatoes", int trainLimit = 32, int epochs = 1, double learningRate = 2e-5) => new()
    {
        Task = task,
        Model = models.MiniLmDirectory,
        Dataset = dataset,
        TrainLimit = trainLimit,
        EvalLimit = 16,
        TestSplit = null,
        MaxLength = 32,
        BatchSize = 8,
        Epochs = epochs,
        LearningRate = learningRate,
        Precision = precision,
        // For SetFit: 4 examples a class and 1 pair round keep its pairs few.
        SamplesPerClass = task == TaskKind.SetFit ? 4 : null,
        Iterations = 1,
        Device = "cpu",
    };

    private static (Tensor Ids, Tensor Mask, Tensor Types) Encode(ModelDirectory directory)
    {
        var encoded = Texts.Select(t => directory.Tokenizer.Encode(t, 64)).ToArray();
        var width = encoded.Max(e => e.Length);
        var ids = new long[encoded.Length, width];
        var mask = new long[encoded.Length, width];
        for (var b = 0; b < encoded.Length; b++)
            for (var t = 0; t < encoded[b].Length; t++) (ids[b, t], mask[b, t]) = (encoded[b][t], 1);
        return (tensor(ids), tensor(mask), zeros_like(tensor(ids)));
    }

    private static MixedPrecision Bf16() => new() { ComputeType = ScalarType.BFloat16 };

    private static T Child<T>(nn.Module module, string name) where T : nn.Module =>
        (T)module.named_children().Single(c => c.name == name).module;

    [Fact]
    public void Bf16_logits_agree_with_fp32_to_bfloat16_accuracy_and_are_not_the_fp32_ones()
    {
        var directory = models.Open("minilm");
        random.manual_seed(1);
        using var model = directory.LoadModel(c => new BertForSequenceClassification(c, 2));
        model.eval();
        using var noGrad = no_grad();
        var (ids, mask, types) = Encode(directory);
        using var fp32 = model.call(ids, mask, types);
        var hiddenFp32 = model.Bert.call(ids, mask, types);
        model.Bert.Precision.ComputeType = ScalarType.BFloat16;
        using var bf16 = model.call(ids, mask, types);
        var hiddenBf16 = model.Bert.call(ids, mask, types);

        Assert.Equal(ScalarType.Float32, bf16.dtype);
        Assert.False(fp32.eq(bf16).all().item<bool>(), "bf16 logits are the fp32 ones: the bf16 path did not run");
        // bfloat16 keeps 8 significant bits (relative rounding 2^-9 ≈ 0.002); six layers of it leave the normalised
        // hidden states (entries of order 1) within a few hundredths (0.017 measured), and the logits within a percent or two
        // of their scale (0.3% measured).
        var hiddenError = (hiddenBf16 - hiddenFp32).abs().max().item<float>();
        Assert.InRange(hiddenError, 1e-4f, 0.05f);
        var real = mask.reshape(-1).nonzero().squeeze(1);
        var cosine = nn.functional.cosine_similarity(hiddenBf16.reshape(-1, 384).index_select(0, real), hiddenFp32.reshape(-1, 384).index_select(0, real)).min().item<float>();
        Assert.True(cosine > 0.999f, $"a token's bf16 hidden state has cosine {cosine} to its fp32 one");
        var logitError = (bf16 - fp32).abs().max().item<float>() / fp32.abs().max().item<float>();
        Assert.True(logitError < 0.02f, $"bf16 logits differ from fp32 by {logitError:P1} of their scale");
        Assert.Equal(fp32.argmax(1).data<long>().ToArray(), bf16.argmax(1).data<long>().ToArray());
    }

    [Fact]
    public void Under_bf16_linear_outputs_are_bfloat16_and_layer_norm_runs_on_fp32_inputs()
    {
        var config = TinyBert.Config();
        var precision = Bf16();
        using var output = new BertResidualOutput(config.IntermediateSize, config, precision);
        using var intermediate = new BertIntermediate(config, precision);
        output.eval();
        using var noGrad = no_grad();
        random.manual_seed(3);
        var hidden = randn(5, config.HiddenSize);

        using var projected = intermediate.call(hidden);
        Assert.Equal(ScalarType.BFloat16, projected.dtype);

        // A bfloat16 residual too: LayerNorm must still see an fp32 sum.
        var residual = randn(5, config.HiddenSize).to_type(ScalarType.BFloat16);
        using var normed = output.call(projected, residual);
        Assert.Equal(ScalarType.Float32, normed.dtype);
        var dense = Child<Linear>(output, "dense");
        var norm = Child<LayerNorm>(output, "LayerNorm");
        var bf16Dense = nn.functional.linear(projected, dense.weight!.to_type(ScalarType.BFloat16), dense.bias!.to_type(ScalarType.BFloat16));
        Assert.Equal(ScalarType.BFloat16, bf16Dense.dtype);
        using var expected = nn.functional.layer_norm((bf16Dense + residual).to_type(ScalarType.Float32), [config.HiddenSize], norm.weight, norm.bias, config.LayerNormEps);
        Assert.True(expected.eq(normed).all().item<bool>(), "the residual output is not LayerNorm in fp32 of the bf16 projection plus residual");

        using var transform = new BertPredictionHeadTransform(config, precision);
        Assert.Equal(ScalarType.Float32, transform.call(hidden).dtype);
    }

    [Fact]
    public void In_fp32_the_modules_make_exactly_the_calls_they_made_before_mixed_precision()
    {
        var config = TinyBert.Config();
        using var output = new BertResidualOutput(config.IntermediateSize, config, new MixedPrecision());
        using var intermediate = new BertIntermediate(config, new MixedPrecision());
        output.eval();
        using var noGrad = no_grad();
        random.manual_seed(4);
        var hidden = randn(5, config.HiddenSize);
        var residual = randn(5, config.HiddenSize);

        using var projected = intermediate.call(hidden);
        Assert.True(nn.functional.gelu(Child<Linear>(intermediate, "dense").call(hidden)).eq(projected).all().item<bool>());
        using var normed = output.call(projected, residual);
        var plain = Child<LayerNorm>(output, "LayerNorm").call(Child<Linear>(output, "dense").call(projected) + residual);
        Assert.True(plain.eq(normed).all().item<bool>());
    }

    [Fact]
    public void Bf16_training_keeps_every_parameter_gradient_and_moment_in_fp32_and_the_loss_falls()
    {
        using var trainable = new TextClassificationTrainable(Spec(TaskKind.TextClassification, ComputePrecision.Bf16, epochs: 3, learningRate: 2e-4));
        trainable.Setup();
        var before = trainable.EvaluateSplit("train", 32);
        for (var i = 0; i < 3; i++) trainable.Step();
        var after = trainable.EvaluateSplit("train", 32);
        Assert.True(after.Loss < before.Loss - 0.1, $"training loss {before.Loss:F4} → {after.Loss:F4}");

        Assert.All(trainable.Model.named_parameters(), p =>
        {
            Assert.True(p.parameter.dtype == ScalarType.Float32, $"{p.name} is {p.parameter.dtype}");
            Assert.True(p.parameter.grad is null || p.parameter.grad.dtype == ScalarType.Float32, $"{p.name}'s gradient is {p.parameter.grad?.dtype}");
        });
        Assert.Contains(trainable.Model.named_parameters(), p => p.parameter.grad is { } grad && grad.abs().sum().item<float>() > 0);

        var checkpoint = Path.Combine(_directory, "checkpoint");
        trainable.SaveCheckpoint(checkpoint);
        var moments = Safetensors.Load(Path.Combine(checkpoint, "optimizer.safetensors"));
        try
        {
            Assert.True(moments.Count > 100);
            Assert.All(moments.Where(m => m.Key.StartsWith("exp_avg", StringComparison.Ordinal)),
                m => Assert.True(m.Value.dtype == ScalarType.Float32, $"{m.Key} is {m.Value.dtype}"));
        }
        finally
        {
            foreach (var tensor in moments.Values) tensor.Dispose();
        }
    }

    [Fact]
    public void A_bf16_checkpoint_resumes_exactly_where_training_stopped_with_fp32_state()
    {
        var spec = Spec(TaskKind.TextClassification, ComputePrecision.Bf16, trainLimit: 16, epochs: 2);
        using var straight = new TextClassificationTrainable(spec);
        straight.Setup();
        straight.Step();
        straight.Step();

        var checkpoint = Path.Combine(_directory, "checkpoint");
        using (var first = new TextClassificationTrainable(spec))
        {
            first.Setup();
            first.Step();
            first.SaveCheckpoint(checkpoint);
        }
        var weights = Safetensors.Load(Path.Combine(checkpoint, "trainable.safetensors"));
        try
        {
            Assert.All(weights.Where(w => !w.Key.StartsWith("__", StringComparison.Ordinal)),
                w => Assert.True(w.Value.dtype == ScalarType.Float32, $"{w.Key} is {w.Value.dtype}"));
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }

        using var resumed = new TextClassificationTrainable(spec);
        resumed.Setup();
        resumed.LoadCheckpoint(checkpoint);
        resumed.Step();

        Assert.Equal(straight.LossCurve, resumed.LossCurve);
        Assert.All(straight.Model.named_parameters().Zip(resumed.Model.named_parameters()), pair =>
        {
            Assert.Equal(ScalarType.Float32, pair.Second.parameter.dtype);
            Assert.True(pair.First.parameter.eq(pair.Second.parameter).all().item<bool>(), $"{pair.First.name} differs after resuming");
        });
    }

    [Theory]
    [InlineData(TaskKind.TextClassification, "rotten_tomatoes")]
    [InlineData(TaskKind.TokenClassification, "conll2003")]
    [InlineData(TaskKind.MaskedLm, "rotten_tomatoes")]
    [InlineData(TaskKind.SetFit, "rotten_tomatoes")]
    public void Every_task_trains_in_bf16_and_its_losses_are_not_the_fp32_ones(TaskKind task, string dataset)
    {
        IReadOnlyList<LossPoint> Train(ComputePrecision precision)
        {
            using var trainable = TrialRunner.Create(Spec(task, precision, dataset, trainLimit: 16), null, null);
            trainable.Setup();
            var epoch = trainable.Step();
            Assert.True(double.IsFinite(epoch.TrainLoss));
            Assert.All(epoch.Validation.Values(), v => Assert.True(double.IsFinite(v.Value), $"{v.Metric} is {v.Value}"));
            return [.. trainable.LossCurve];
        }
        var fp32 = Train(ComputePrecision.Fp32);
        var bf16 = Train(ComputePrecision.Bf16);
        Assert.Equal(fp32.Count, bf16.Count);
        Assert.NotEqual(fp32.Select(p => p.Loss), bf16.Select(p => p.Loss));
        // The same batches through nearly the same arithmetic: the first loss agrees to bfloat16 accuracy.
        Assert.Equal(fp32[0].Loss, bf16[0].Loss, 0.05 * Math.Abs(fp32[0].Loss) + 1e-3);
    }
}
