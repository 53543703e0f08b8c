using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

/// <summary>A batch run as micro-batches with accumulated gradients takes the same optimizer step as the whole batch.</summary>
public sealed class MicroBatchTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("microbatch-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Accumulated_summed_losses_give_the_gradient_and_step_of_the_batch_mean_loss()
    {
        using var ours = new BertForTokenClassification(TinyBert.Config(), 3);
        using var reference = new BertForTokenClassification(TinyBert.Config(), 3);
        reference.load_state_dict(ours.state_dict());
        ours.eval();
        reference.eval();
        // Three sequences with 1, 4 and 2 labelled tokens: weighting micro-batches by examples instead of tokens shows.
        var ids = tensor(new long[] { 2, 11, 5, 7, 3, 2, 6, 14, 15, 3, 2, 9, 8, 3, 0 }, 3, 5);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 }, 3, 5);
        var labels = tensor(new long[] { -100, 1, -100, -100, -100, -100, 2, 0, 1, 2, -100, 1, 2, -100, -100 }, 3, 5);
        const double learningRate = 1e-2, maxGradNorm = 1e9;

        // Independent truth: the mean token loss of the whole batch, back-propagated at once.
        using var referenceOptimizer = Optimization.AdamW(reference, learningRate, 0.01);
        referenceOptimizer.ZeroGrad();
        var logits = reference.call(ids, mask, zeros_like(ids));
        nn.functional.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1), ignore_index: -100).backward();
        var expectedGradients = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.data<float>().ToArray());
        referenceOptimizer.Step();

        using var optimizer = Optimization.AdamW(ours, learningRate, 0.01);
        LossSum Rows(long start, long length)
        {
            var rowLabels = labels.narrow(0, start, length);
            var rowLogits = ours.call(ids.narrow(0, start, length), mask.narrow(0, start, length), zeros_like(ids.narrow(0, start, length)));
            return new LossSum(nn.functional.cross_entropy(rowLogits.reshape(-1, 3), rowLabels.reshape(-1), ignore_index: -100, reduction: nn.Reduction.Sum),
                rowLabels.ne(-100).sum().item<long>());
        }
        var loss = Optimization.TrainingStep([() => Rows(0, 1), () => Rows(1, 2)], optimizer, maxGradNorm);

        Assert.Equal(expectedGradients.Keys, ours.named_parameters().Select(p => p.name));
        foreach (var (name, parameter) in ours.named_parameters())
            AssertClose(expectedGradients[name], parameter.grad!.data<float>().ToArray(), $"gradient of {name}");
        var expectedWeights = reference.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
        // A key bias has a zero true gradient (softmax ignores a shift shared by all keys): its gradient is rounding
        // noise, which AdamW's first step turns into a full-size step of either sign.
        foreach (var (name, parameter) in ours.named_parameters().Where(p => !p.name.EndsWith(".key.bias", StringComparison.Ordinal)))
            AssertClose(expectedWeights[name], parameter.data<float>().ToArray(), $"{name} after the step");
        using (no_grad())
            Assert.Equal(nn.functional.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1), ignore_index: -100).item<float>(), loss, 5);
    }

    [Theory]
    [InlineData(TaskKind.TextClassification, "rotten_tomatoes")]
    [InlineData(TaskKind.TokenClassification, "conll2003")]
    [InlineData(TaskKind.MaskedLm, "rotten_tomatoes")]
    public void A_trainable_in_micro_batches_trains_as_on_whole_batches(TaskKind task, string dataset)
    {
        var model = TinyBert.SaveWithoutDropout(Path.Combine(_directory, "tiny"));
        var whole = Train(task, dataset, model, microBatch: null);
        // 10 examples a batch: micro-batches of 4, 4 and 2; of 3, 3, 3 and 1; of 1.
        foreach (var micro in new[] { 4, 3, 1 })
        {
            var split = Train(task, dataset, model, micro);
            Assert.Equal(whole.Losses.Length, split.Losses.Length);
            AssertClose(whole.Losses, split.Losses, $"losses with micro-batches of {micro}");
            foreach (var name in whole.Gradients.Keys)
            {
                AssertClose(whole.Gradients[name], split.Gradients[name], $"last gradient of {name} with micro-batches of {micro}");
                AssertClose(whole.Weights[name], split.Weights[name], $"{name} with micro-batches of {micro}");
            }
        }
    }

    /// <summary>Two optimizer steps of 10 examples; their losses, the last step's gradients and the weights after it.</summary>
    private static (float[] Losses, Dictionary<string, float[]> Gradients, Dictionary<string, float[]> Weights) Train(
        TaskKind task, string dataset, string model, int? microBatch)
    {
        var spec = new TrialSpec
        {
            Task = task,
            Model = model,
            Dataset = dataset,
            TrainLimit = 20,
            EvalLimit = 4,
            TestSplit = null,
            MaxLength = 32,
            BatchSize = 10,
            MicroBatchSize = microBatch,
            // Large enough that the second AdamW step depends on the size of the first step's gradients, not just their signs.
            LearningRate = 1e-2,
            Device = "cpu",
        };
        using var trainable = TrialRunner.Create(spec, logger: null, progress: null);
        trainable.Setup();
        trainable.Step();
        nn.Module trained = trainable switch
        {
            TextClassificationTrainable t => t.Model,
            TokenClassificationTrainable t => t.Model,
            MaskedLmTrainable t => t.Model,
            _ => throw new ArgumentOutOfRangeException(nameof(task), task, "no model to read"),
        };
        Assert.Equal(microBatch ?? 10, trainable.MicroBatchSize);
        return ([.. trainable.LossCurve.Select(p => (float)p.Loss)],
            trained.named_parameters().Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!.data<float>().ToArray()),
            trained.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray()));
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (a, b) => Math.Abs(a - b)).DefaultIfEmpty().Max();
        Assert.True(worst < 1e-5, $"{what}: max difference {worst:E2}");
    }

    [Theory]
    [InlineData(0, 16, "micro_batch_size: must be a positive integer, got 0")]
    [InlineData(17, null, "micro_batch_size: 17 exceeds batch_size 16")]
    [InlineData(9, 8, "micro_batch_size: 9 exceeds batch_size 8")]
    public void A_micro_batch_is_positive_and_no_larger_than_the_batch(int micro, int? batch, string problem)
    {
        var values = new TrialValues().Read("micro_batch_size", $"{micro}");
        if (batch is { } size) values.Read("batch_size", $"{size}");
        var error = Assert.Throws<TrialSpecException>(() => values.ToSpec());
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void Token_batches_count_their_labelled_positions_and_sequence_batches_their_examples()
    {
        using var tokens = Batching.CollateTokens([new EncodedTokens([2, 5, 3], [-100, 1, -100]), new EncodedTokens([2, 5, 6, 7, 3], [-100, 0, 1, 2, -100])], 0, CPU);
        using var sequences = Batching.Collate([new EncodedExample([2, 5, 3], 1), new EncodedExample([2, 3], 0)], 0, CPU);
        Assert.Equal(4, tokens.Targets);
        Assert.Equal(2, sequences.Targets);
    }
}
