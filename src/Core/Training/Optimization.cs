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
    /// One optimizer step: the loss, backward, gradient clipping, AdamW. Every tensor is freed in the step's own
    /// dispose scope; only the loss leaves it, as a number.
    /// </summary>
    public static float TrainingStep(Func<Tensor> loss, AdamW optimizer, double maxGradNorm)
    {
        using var scope = NewDisposeScope();
        var value = loss();
        optimizer.ZeroGrad();
        value.backward();
        nn.utils.clip_grad_norm_(optimizer.Parameters, maxGradNorm);
        optimizer.Step();
        return value.item<float>();
    }
}
