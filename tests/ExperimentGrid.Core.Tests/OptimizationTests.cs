using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Training;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

public sealed class OptimizationTests
{
    /// <summary>The reference: TorchSharp's own AdamW over the trainable parameters, in transformers' two decay groups.</summary>
    private static TorchSharp.Modules.AdamW TorchSharpsAdamW(nn.Module model, double learningRate, double weightDecay)
    {
        static bool NoDecay(string name) => name.EndsWith(".bias", StringComparison.Ordinal) || name.Contains("LayerNorm", StringComparison.Ordinal);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        return optim.AdamW(
        [
            new TorchSharp.Modules.AdamW.ParamGroup(trainable.Where(p => !NoDecay(p.name)).Select(p => p.parameter), new TorchSharp.Modules.AdamW.Options { LearningRate = learningRate, weight_decay = weightDecay }),
            new TorchSharp.Modules.AdamW.ParamGroup(trainable.Where(p => NoDecay(p.name)).Select(p => p.parameter), new TorchSharp.Modules.AdamW.Options { LearningRate = learningRate, weight_decay = 0 }),
        ], learningRate);
    }

    [Fact]
    public void AdamW_matches_torchsharps_reference_implementation_with_decay_groups()
    {
        const double learningRate = 1e-2, weightDecay = 0.1;
        using var ours = new BertForSequenceClassification(TinyBert.Config(), 2);
        using var reference = new BertForSequenceClassification(TinyBert.Config(), 2);
        // Identical starting weights by copy, not by seeding twice: the generator is process-wide.
        reference.load_state_dict(ours.state_dict());
        ours.eval(); // no dropout: both runs must see identical gradients
        reference.eval();
        using var optimizer = Optimization.AdamW(ours, learningRate, weightDecay);
        using var torchAdamW = TorchSharpsAdamW(reference, learningRate, weightDecay);

        var ids = tensor(new long[] { 2, 11, 5, 7, 3, 2, 6, 14, 15, 3 }, 2, 5);
        var mask = ones_like(ids);
        var labels = tensor(new long[] { 1, 0 });
        for (var step = 0; step < 5; step++)
        {
            optimizer.ZeroGrad();
            nn.functional.cross_entropy(ours.call(ids, mask, zeros_like(ids)), labels).backward();
            optimizer.Step();

            torchAdamW.zero_grad();
            nn.functional.cross_entropy(reference.call(ids, mask, zeros_like(ids)), labels).backward();
            torchAdamW.step();
        }

        var expected = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
        foreach (var (name, parameter) in ours.named_parameters())
        {
            var actual = parameter.data<float>().ToArray();
            var worst = actual.Zip(expected[name], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst < 1e-6, $"{name}: max difference {worst:E2}");
        }
        Assert.Equal(5, optimizer.StepCount);
    }

    [Fact]
    public void Optimizer_state_saves_and_loads_and_rejects_a_mismatched_model()
    {
        var path = Path.Combine(Path.GetTempPath(), $"adamw-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var model = new BertModel(TinyBert.Config());
            using var optimizer = Optimization.AdamW(model, 1e-3, 0.01);
            var ids = tensor(new long[] { 2, 5, 3 }, 1, 3);
            model.call(ids, ones_like(ids), zeros_like(ids)).sum().backward();
            optimizer.Step();
            optimizer.Save(path);

            using var restored = Optimization.AdamW(model, 1e-3, 0.01);
            restored.Load(path);
            Assert.Equal(1, restored.StepCount);

            // The same model with its bottom layer frozen trains fewer parameters: the saved state does not fit.
            using var other = new BertModel(TinyBert.Config());
            other.SetFreeze(FreezeDepth.Bottom(1));
            using var mismatched = Optimization.AdamW(other, 1e-3, 0.01);
            var error = Assert.Throws<InvalidDataException>(() => mismatched.Load(path));
            Assert.Contains("another freeze depth", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Parameters_and_their_gradients_are_views_of_the_flat_buffers()
    {
        using var model = new BertForSequenceClassification(TinyBert.Config(), 2);
        using var reference = new BertForSequenceClassification(TinyBert.Config(), 2);
        model.eval();
        reference.eval();
        using var optimizer = Optimization.AdamW(model, 1e-2, 0.1);
        var parameters = model.named_parameters().ToList();
        Assert.Equal(parameters.Sum(p => p.parameter.numel()), optimizer.FlatParameters.numel());

        // Writing into the buffer is writing into every weight of the module.
        var before = parameters.ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
        using (no_grad()) optimizer.FlatParameters.add_(1);
        foreach (var (name, parameter) in parameters)
            Assert.Equal(before[name].Select(v => v + 1), parameter.data<float>().ToArray());

        var ids = tensor(new long[] { 2, 11, 5, 7, 3, 2, 6, 14, 15, 3 }, 2, 5);
        var mask = ones_like(ids);
        var labels = tensor(new long[] { 1, 0 });
        Tensor Loss(BertForSequenceClassification m, long row) =>
            nn.functional.cross_entropy(m.call(ids.narrow(0, row, 1), mask.narrow(0, row, 1), zeros_like(ids.narrow(0, row, 1))), labels.narrow(0, row, 1));
        // The first step's gradients are autograd's own tensors; the optimizer adopts them into the buffer.
        optimizer.ZeroGrad();
        Loss(model, 0).backward();
        optimizer.Step();

        // The second step's two backward passes accumulate in place into the buffer: the same sums as on a plain copy.
        reference.load_state_dict(model.state_dict());
        optimizer.ZeroGrad();
        Assert.Equal(0, optimizer.FlatGradients.abs().sum().item<float>());
        Loss(model, 0).backward();
        Loss(model, 1).backward();
        Loss(reference, 0).backward();
        Loss(reference, 1).backward();
        var expected = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.data<float>().ToArray());
        foreach (var (name, parameter) in parameters)
            Assert.Equal(expected[name], parameter.grad!.data<float>().ToArray());
        Assert.Equal(expected.Values.Sum(g => g.Sum(v => (double)v * v)), optimizer.FlatGradients.square().sum().item<float>(), 3);
        using (no_grad()) optimizer.FlatGradients.mul_(2);
        foreach (var (name, parameter) in parameters)
            Assert.Equal(expected[name].Select(v => v * 2), parameter.grad!.data<float>().ToArray());
    }

    [Theory]
    [InlineData(1e-3, true)]
    [InlineData(1e9, false)]
    public void Clipping_matches_torchs_clip_grad_norm(double maxNorm, bool clips)
    {
        using var ours = new BertForSequenceClassification(TinyBert.Config(), 2);
        using var reference = new BertForSequenceClassification(TinyBert.Config(), 2);
        reference.load_state_dict(ours.state_dict());
        ours.eval();
        reference.eval();
        using var optimizer = Optimization.AdamW(ours, 1e-2, 0.1);
        var ids = tensor(new long[] { 2, 11, 5, 7, 3, 2, 6, 14, 15, 3 }, 2, 5);
        var mask = ones_like(ids);
        var labels = tensor(new long[] { 1, 0 });
        // Twice: the first clip acts on gradients autograd allocated, the second on gradients in the flat buffer.
        for (var round = 0; round < 2; round++)
        {
            optimizer.ZeroGrad();
            nn.functional.cross_entropy(ours.call(ids, mask, zeros_like(ids)), labels).backward();
            optimizer.ClipGradNorm(maxNorm);

            reference.zero_grad();
            nn.functional.cross_entropy(reference.call(ids, mask, zeros_like(ids)), labels).backward();
            var unclipped = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.data<float>().ToArray());
            var norm = nn.utils.clip_grad_norm_(reference.parameters(), maxNorm);
            Assert.Equal(clips, norm > maxNorm);

            foreach (var (name, parameter) in ours.named_parameters())
            {
                var expected = reference.get_parameter(name)!.grad!.data<float>().ToArray();
                var actual = parameter.grad!.data<float>().ToArray();
                if (!clips)
                {
                    Assert.Equal(unclipped[name], actual);
                    continue;
                }
                // One norm over the buffer instead of a norm of per-tensor norms: the sums round differently.
                var worst = actual.Zip(expected, (a, b) => Math.Abs(a - b) / Math.Max(Math.Abs(b), 1e-12f)).Max();
                Assert.True(worst < 1e-5, $"{name}: relative difference {worst:E2}");
                Assert.NotEqual(unclipped[name], actual);
            }
            // Stepping in place between rounds keeps both models on the same weights.
            using (no_grad())
                foreach (var (name, parameter) in ours.named_parameters())
                    reference.get_parameter(name)!.copy_(parameter);
        }
    }

    [Fact]
    public void A_partly_frozen_model_resumed_from_a_checkpoint_trains_as_torchsharps_AdamW_with_clipping()
    {
        const double learningRate = 1e-2, weightDecay = 0.1, maxNorm = 0.5;
        var directory = Directory.CreateTempSubdirectory("adamw-resume-").FullName;
        try
        {
            var config = TinyBert.Config();
            config.HiddenDropoutProb = 0;
            config.AttentionProbsDropoutProb = 0;
            // BertModel's forward leaves out its pooler: trainable, but never given a gradient, so never decayed.
            BertModel Frozen()
            {
                var model = new BertModel(config);
                model.SetFreeze(FreezeDepth.Bottom(1));
                return model;
            }
            using var ours = Frozen();
            using var reference = Frozen();
            reference.load_state_dict(ours.state_dict());
            var initial = ours.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
            var trainable = reference.parameters().Where(p => p.requires_grad).ToList();
            using var torchAdamW = TorchSharpsAdamW(reference, learningRate, weightDecay);

            var ids = tensor(new long[] { 2, 11, 5, 7, 3, 2, 6, 14, 15, 3 }, 2, 5);
            var mask = ones_like(ids);
            var probe = randn(2, 5, config.HiddenSize);
            Tensor Loss(BertModel model) => model.call(ids, mask, zeros_like(ids)).mul(probe).sum();
            var clipped = 0;
            for (var step = 0; step < 5; step++)
            {
                torchAdamW.zero_grad();
                Loss(reference).backward();
                if (nn.utils.clip_grad_norm_(trainable, maxNorm) > maxNorm) clipped++;
                torchAdamW.step();
            }
            Assert.Equal(5, clipped);

            var optimizer = Optimization.AdamW(ours, learningRate, weightDecay);
            var model = ours;
            for (var step = 0; step < 5; step++)
            {
                if (step == 2)
                {
                    // A checkpoint as the trainables write and read it: weights by name, copied in place; moments by name.
                    Safetensors.Save(Path.Combine(directory, "weights.safetensors"), model.state_dict());
                    optimizer.Save(Path.Combine(directory, "optimizer.safetensors"));
                    optimizer.Dispose();
                    model = Frozen();
                    var weights = Safetensors.Load(Path.Combine(directory, "weights.safetensors"));
                    optimizer = Optimization.AdamW(model, learningRate, weightDecay);
                    ModelDirectory.LoadWeights(model, weights, directory, []);
                    foreach (var tensor in weights.Values) tensor.Dispose();
                    optimizer.Load(Path.Combine(directory, "optimizer.safetensors"));
                    Assert.Equal(2, optimizer.StepCount);
                }
                var current = model;
                Optimization.TrainingStep([() => new LossSum(Loss(current), 1)], optimizer, maxNorm);
            }
            optimizer.Dispose();

            var expected = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
            foreach (var (name, parameter) in model.named_parameters())
            {
                var actual = parameter.data<float>().ToArray();
                var worst = actual.Zip(expected[name], (a, b) => Math.Abs(a - b)).Max();
                // A key bias has a zero true gradient: its gradient is rounding noise, which AdamW turns into full-size
                // steps of either sign, and a clip coefficient rounded differently changes that noise.
                if (!name.EndsWith(".key.bias", StringComparison.Ordinal))
                    Assert.True(worst < 1e-6, $"{name}: max difference {worst:E2}");
                var frozenOrUntrained = name.StartsWith("embeddings.", StringComparison.Ordinal) || name.StartsWith("encoder.layer.0.", StringComparison.Ordinal)
                    || name.StartsWith("pooler.", StringComparison.Ordinal);
                Assert.Equal(frozenOrUntrained, actual.SequenceEqual(initial[name]));
            }
            model.Dispose();
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData(0, 2, 10, 0.0)]
    [InlineData(1, 2, 10, 0.5)]
    [InlineData(2, 2, 10, 1.0)]
    [InlineData(6, 2, 10, 0.5)]
    [InlineData(10, 2, 10, 0.0)]
    [InlineData(0, 0, 4, 1.0)]
    [InlineData(3, 0, 4, 0.25)]
    public void Linear_schedule_rises_over_warmup_then_decays_to_zero(int step, int warmup, int total, double expected) =>
        Assert.Equal(expected, Optimization.LinearScheduleFactor(step, warmup, total), 12);
}
