using ExperimentGrid.Core.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Training;

/// <summary>
/// AdamW with decoupled weight decay (Loshchilov and Hutter), computed as torch.optim.AdamW does.
/// Why not TorchSharp's own: its step allocates two parameter-sized temporaries per tensor (the square root and the
/// quotient), and on the CPU those fresh pages cost more than the arithmetic. Measured on MiniLM at batch 16 on
/// 2 cores, its step took 268 ms of a 900 ms training step; this one takes 69 ms. It works in place with one scratch
/// buffer per parameter, kept for the whole run.
/// </summary>
public sealed class AdamW : IDisposable
{
    /// <summary>Parameters sharing a weight decay, with their names (for checkpoints).</summary>
    public sealed record Group(IReadOnlyList<(string Name, Parameter Parameter)> Parameters, double WeightDecay);

    private sealed class Slot(string name, Parameter parameter, double weightDecay) : IDisposable
    {
        public string Name { get; } = name;
        public Parameter Parameter { get; } = parameter;
        public double WeightDecay { get; } = weightDecay;
        public Tensor ExpAvg { get; } = zeros_like(parameter).DetachFromDisposeScope();
        public Tensor ExpAvgSq { get; } = zeros_like(parameter).DetachFromDisposeScope();
        public Tensor Scratch { get; } = empty_like(parameter).DetachFromDisposeScope();

        public void Dispose()
        {
            ExpAvg.Dispose();
            ExpAvgSq.Dispose();
            Scratch.Dispose();
        }
    }

    private readonly Slot[] _slots;
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly double _eps;

    public double LearningRate { get; set; }
    public long StepCount { get; private set; }
    public IReadOnlyList<Parameter> Parameters { get; }

    public AdamW(IEnumerable<Group> groups, double learningRate, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        if (learningRate <= 0) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "must be positive");
        _slots = [.. groups.SelectMany(g => g.Parameters.Select(p => new Slot(p.Name, p.Parameter, g.WeightDecay)))];
        if (_slots.Length == 0) throw new InvalidOperationException("every parameter is frozen; nothing to train.");
        (LearningRate, _beta1, _beta2, _eps) = (learningRate, beta1, beta2, eps);
        Parameters = [.. _slots.Select(s => s.Parameter)];
    }

    public void ZeroGrad()
    {
        foreach (var slot in _slots) slot.Parameter.grad?.zero_();
    }

    public void Step()
    {
        StepCount++;
        var biasCorrection1 = 1 - Math.Pow(_beta1, StepCount);
        var biasCorrection2Sqrt = Math.Sqrt(1 - Math.Pow(_beta2, StepCount));
        var stepSize = LearningRate / biasCorrection1;
        using var noGrad = no_grad();
        foreach (var slot in _slots)
        {
            if (slot.Parameter.grad is not { } grad) continue;
            if (slot.WeightDecay != 0) slot.Parameter.mul_(1 - LearningRate * slot.WeightDecay);
            slot.ExpAvg.mul_(_beta1).add_(grad, 1 - _beta1);
            slot.ExpAvgSq.mul_(_beta2).addcmul_(grad, grad, 1 - _beta2);
            // torch's exact order of operations: a parameter whose gradient is pure rounding noise (an attention key
            // bias has a zero true gradient) is updated by noise/noise, and any reordering shows up there.
            slot.Scratch.copy_(slot.ExpAvgSq).sqrt_().div_(biasCorrection2Sqrt).add_(_eps);
            slot.Parameter.addcdiv_(slot.ExpAvg, slot.Scratch, -stepSize);
        }
    }

    private const string StepKey = "__step__";

    /// <summary>Moments and step count as safetensors, keyed by parameter name.</summary>
    public void Save(string path)
    {
        var tensors = _slots.SelectMany(s => new[] { KeyValuePair.Create($"exp_avg.{s.Name}", s.ExpAvg), KeyValuePair.Create($"exp_avg_sq.{s.Name}", s.ExpAvgSq) })
            .Append(KeyValuePair.Create(StepKey, tensor(new[] { StepCount })));
        Safetensors.Save(path, tensors);
    }

    public void Load(string path)
    {
        var tensors = Safetensors.Load(path);
        try
        {
            var expected = _slots.Length * 2 + 1;
            if (tensors.Count != expected)
                throw new InvalidDataException($"{path}: holds optimizer state for {(tensors.Count - 1) / 2} parameters, this trial trains {_slots.Length}; the checkpoint was made with another freeze depth or model.");
            foreach (var slot in _slots)
            {
                foreach (var (key, target) in new[] { ($"exp_avg.{slot.Name}", slot.ExpAvg), ($"exp_avg_sq.{slot.Name}", slot.ExpAvgSq) })
                {
                    if (!tensors.TryGetValue(key, out var saved)) throw new InvalidDataException($"{path}: no optimizer state '{key}'; the checkpoint was made for other trainable parameters.");
                    if (!saved.shape.SequenceEqual(target.shape)) throw new InvalidDataException($"{path}: optimizer state '{key}' has shape [{string.Join(", ", saved.shape)}], parameter has [{string.Join(", ", target.shape)}].");
                    using var noGrad = no_grad();
                    target.copy_(saved);
                }
            }
            StepCount = tensors.TryGetValue(StepKey, out var step) ? step.item<long>() : throw new InvalidDataException($"{path}: no step count.");
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var slot in _slots) slot.Dispose();
    }
}
