using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Training;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

public sealed class OptimizationTests
{
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
        static bool NoDecay(string name) => name.EndsWith(".bias", StringComparison.Ordinal) || name.Contains("LayerNorm", StringComparison.Ordinal);
        var named = reference.named_parameters().ToList();
        using var torchAdamW = optim.AdamW(
        [
            new TorchSharp.Modules.AdamW.ParamGroup(named.Where(p => !NoDecay(p.name)).Select(p => p.parameter), new TorchSharp.Modules.AdamW.Options { LearningRate = learningRate, weight_decay = weightDecay }),
            new TorchSharp.Modules.AdamW.ParamGroup(named.Where(p => NoDecay(p.name)).Select(p => p.parameter), new TorchSharp.Modules.AdamW.Options { LearningRate = learningRate, weight_decay = 0 }),
        ], learningRate);

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
