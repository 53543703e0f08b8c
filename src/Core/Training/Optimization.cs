using ExperimentGrid.Core.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Training;

public static class Optimization
{
    /// <summary>
    /// AdamW over the trainable parameters, in two groups as transformers' Trainer builds them: weight decay on
    /// weights, none on biases and LayerNorm weights.
    /// </summary>
    public static AdamW AdamW(nn.Module model, double learningRate, double weightDecay)
    {
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        static bool NoDecay(string name) => name.EndsWith(".bias", StringComparison.Ordinal) || name.Contains("LayerNorm", StringComparison.Ordinal);
        return new AdamW(
        [
            new AdamW.Group([.. trainable.Where(p => !NoDecay(p.name))], weightDecay),
            new AdamW.Group([.. trainable.Where(p => NoDecay(p.name))], 0),
        ], learningRate);
    }

    /// <summary>
    /// transformers' get_linear_schedule_with_warmup as a pure function of the step, so resuming needs only the step:
    /// linear rise over the warm-up steps, then linear decay to zero at the last step.
    /// </summary>
    public static double LinearScheduleFactor(int step, int warmupSteps, int totalSteps)
    {
        if (step < warmupSteps) return (double)step / Math.Max(1, warmupSteps);
        return Math.Max(0.0, (double)(totalSteps - step) / Math.Max(1, totalSteps - warmupSteps));
    }

    /// <summary>
    /// One optimizer step over a batch run as micro-batches. Each micro-batch's summed loss is back-propagated in its
    /// own dispose scope, so only one micro-batch's activations live at a time; the accumulated gradient is then divided
    /// once by the batch's count of loss terms, which makes it the full batch's mean-loss gradient however the batch was
    /// split. Then clipping and AdamW, which update in place into buffers allocated up front: an out-of-memory error
    /// comes from a forward or backward pass, before any weight has changed.
    /// </summary>
    /// <returns>The batch's mean loss.</returns>
    public static float TrainingStep(IEnumerable<Func<LossSum>> microBatches, AdamW optimizer, double maxGradNorm)
    {
        using var scope = NewDisposeScope();
        optimizer.ZeroGrad();
        Tensor? total = null;
        long count = 0;
        foreach (var microBatch in microBatches)
        {
            using var micro = NewDisposeScope();
            var loss = microBatch();
            loss.Sum.backward();
            // Summed on the device: reading each micro-batch's loss would wait for its backward pass.
            total = total is null ? loss.Sum.detach().MoveToOuterDisposeScope() : total.PlusInPlace(loss.Sum.detach());
            count += loss.Count;
        }
        if (total is null) throw new ArgumentException("a training step needs at least one micro-batch.", nameof(microBatches));
        var terms = Math.Max(1, count);
        optimizer.DivideGradients(terms);
        optimizer.ClipGradNorm(maxGradNorm);
        optimizer.Step();
        return total.item<float>() / terms;
    }
}

/// <summary>
/// A micro-batch's loss as a sum over its loss terms (examples, pairs or labelled tokens) and their count, so that
/// micro-batches of any split weigh in by their share of the batch.
/// </summary>
public readonly record struct LossSum(Tensor Sum, long Count);
