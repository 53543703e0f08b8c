using ExperimentGrid.Core.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Training;

/// <summary>
/// AdamW with decoupled weight decay (Loshchilov and Hutter), computed as torch.optim.AdamW does, over flat buffers.
/// Every trainable parameter is a view into one contiguous parameter buffer and, once it has a gradient, its gradient
/// a view into one contiguous gradient buffer, where autograd accumulates in place. Zeroing, dividing and clipping the
/// gradients and the update itself are then about 20 kernels on a GPU whatever the parameter count: a step of
/// per-parameter kernels (about 100 tensors × 5 launches for MiniLM, each a P/Invoke) was bound by launches, not
/// arithmetic. On the CPU the update runs in cache-sized chunks instead (see <see cref="CpuChunk"/>). Unlike
/// TorchSharp's own AdamW, it allocates nothing per step: its buffers live for the run.
/// </summary>
public sealed class AdamW : IDisposable
{
    /// <summary>Parameters sharing a weight decay, with their names (for checkpoints).</summary>
    public sealed record Group(IReadOnlyList<(string Name, Parameter Parameter)> Parameters, double WeightDecay);

    private sealed class Slot(string name, Parameter parameter, double weightDecay, long offset)
    {
        public string Name { get; } = name;
        public Parameter Parameter { get; } = parameter;
        public double WeightDecay { get; } = weightDecay;
        public long Offset { get; } = offset;
        public long Length { get; } = parameter.numel();

        /// <summary>
        /// Whether the parameter has had a gradient, so that its gradient is a view of the flat buffer. torch skips a
        /// parameter without one (a pooler no task loss reaches, say): no weight decay, moments untouched.
        /// </summary>
        public bool Trained { get; set; }
    }

    private readonly Slot[] _slots;
    private readonly double _beta1;
    private readonly double _beta2;
    private readonly double _eps;
    private readonly Tensor _parameters;
    private readonly Tensor _gradients;
    private readonly Tensor _expAvg;
    private readonly Tensor _expAvgSq;
    private readonly Tensor _scratch;
    /// <summary>Parameters, gradients, moments and scratch, cut alike into the chunks the update runs over.</summary>
    private readonly List<(Tensor Parameters, Tensor Gradients, Tensor ExpAvg, Tensor ExpAvgSq, Tensor Scratch)> _chunks;
    /// <summary>Runs of trained, decayed parameters that lie next to each other in the buffer, with their decay.</summary>
    private List<(Tensor Range, double WeightDecay)> _decayRanges = [];
    /// <summary>Whether this step's new gradients have been looked for since the last <see cref="ZeroGrad"/>.</summary>
    private bool _gradientsAdopted;

    public double LearningRate { get; set; }
    public long StepCount { get; private set; }
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The flat parameter buffer every trainable parameter is a view of.</summary>
    internal Tensor FlatParameters => _parameters;

    /// <summary>The flat gradient buffer every trained parameter's gradient is a view of.</summary>
    internal Tensor FlatGradients => _gradients;

    public AdamW(IEnumerable<Group> groups, double learningRate, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        if (learningRate <= 0) throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "must be positive");
        var offset = 0L;
        var slots = new List<Slot>();
        foreach (var group in groups)
            foreach (var (name, parameter) in group.Parameters)
            {
                slots.Add(new Slot(name, parameter, group.WeightDecay, offset));
                offset += slots[^1].Length;
            }
        _slots = [.. slots];
        if (_slots.Length == 0) throw new InvalidOperationException("every parameter is frozen; nothing to train.");
        var first = _slots[0].Parameter;
        if (_slots.FirstOrDefault(s => s.Parameter.dtype != first.dtype || s.Parameter.device_type != first.device_type || s.Parameter.device_index != first.device_index) is { } odd)
            throw new NotSupportedException($"AdamW keeps all trainable parameters in one buffer; '{odd.Name}' is {odd.Parameter.dtype} on {odd.Parameter.device}, '{_slots[0].Name}' is {first.dtype} on {first.device}.");
        if (_slots.Select(s => s.Parameter).Distinct(ReferenceEqualityComparer.Instance).Count() != _slots.Length)
            throw new ArgumentException("a parameter appears twice; a tied weight is trained once.", nameof(groups));
        (LearningRate, _beta1, _beta2, _eps) = (learningRate, beta1, beta2, eps);
        Parameters = [.. _slots.Select(s => s.Parameter)];

        _parameters = empty(offset, dtype: first.dtype, device: first.device).DetachFromDisposeScope();
        _gradients = zeros_like(_parameters).DetachFromDisposeScope();
        _expAvg = zeros_like(_parameters).DetachFromDisposeScope();
        _expAvgSq = zeros_like(_parameters).DetachFromDisposeScope();
        _scratch = empty_like(_parameters).DetachFromDisposeScope();
        _chunks = Chunks([_parameters, _gradients, _expAvg, _expAvgSq, _scratch]);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var slot in _slots)
        {
            var view = Slice(_parameters, slot);
            view.copy_(slot.Parameter);
            // The parameter object stays (modules, state_dict and checkpoints hold it); only its storage moves.
            slot.Parameter.set_(view);
        }
    }

    private static Tensor Slice(Tensor buffer, Slot slot) => buffer.narrow(0, slot.Offset, slot.Length).view(slot.Parameter.shape);

    /// <summary>
    /// Makes the gradient of every parameter that has newly received one a view of the flat gradient buffer, copying
    /// in what autograd put there. Before a parameter's first backward pass its gradient is undefined, and autograd
    /// creates one; from then on it adds in place into the view (as it does into any existing gradient outside
    /// create_graph). Looking costs a P/Invoke per untrained parameter, once per step.
    /// </summary>
    private void AdoptGradients()
    {
        if (_gradientsAdopted) return;
        _gradientsAdopted = true;
        var adopted = false;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var slot in _slots.Where(s => !s.Trained))
        {
            if (slot.Parameter.grad is not { } grad) continue;
            var view = Slice(_gradients, slot);
            view.copy_(grad);
            slot.Parameter.grad = view;
            slot.Trained = adopted = true;
        }
        if (adopted) _decayRanges = DecayRanges();
    }

    private List<(Tensor Range, double WeightDecay)> DecayRanges()
    {
        foreach (var (range, _) in _decayRanges) range.Dispose();
        var ranges = new List<(Tensor, double)>();
        var runs = new List<(long Start, long End, double WeightDecay)>();
        foreach (var slot in _slots.Where(s => s.Trained && s.WeightDecay != 0))
        {
            if (runs.Count > 0 && runs[^1].End == slot.Offset && runs[^1].WeightDecay == slot.WeightDecay)
                runs[^1] = runs[^1] with { End = slot.Offset + slot.Length };
            else
                runs.Add((slot.Offset, slot.Offset + slot.Length, slot.WeightDecay));
        }
        foreach (var (start, end, weightDecay) in runs)
            ranges.Add((_parameters.narrow(0, start, end - start).DetachFromDisposeScope(), weightDecay));
        return ranges;
    }

    /// <summary>Zeroes the gradients before a step's first backward pass.</summary>
    public void ZeroGrad()
    {
        using (no_grad()) _gradients.zero_();
        using var scope = NewDisposeScope();
        // A gradient autograd created since the last look (a failed step's partial one) is not in the buffer yet.
        foreach (var slot in _slots.Where(s => !s.Trained)) slot.Parameter.grad?.zero_();
        _gradientsAdopted = false;
    }

    /// <summary>Divides the accumulated gradients by <paramref name="divisor"/>, as grad.div_ does each.</summary>
    public void DivideGradients(double divisor)
    {
        AdoptGradients();
        using var noGrad = no_grad();
        using Scalar held = divisor;
        _gradients.div_(held);
    }

    /// <summary>
    /// nn.utils.clip_grad_norm_ over the trained parameters, 2-norm: scales the gradients by
    /// min(1, maxNorm / (total norm + 1e-6)). The coefficient is clamped on the device, as torch does it, so nothing
    /// waits for the norm. Untrained parameters' slices of the buffer are zero and add nothing to the norm.
    /// </summary>
    public void ClipGradNorm(double maxNorm)
    {
        AdoptGradients();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var totalNorm = linalg.vector_norm(_gradients);
        // torch's C++ clip_grad_norm_ (the one TorchSharp calls) computes max_norm / (total_norm + 1e-6) as a fill and a true division.
        using Scalar held = maxNorm, epsilon = 1e-6, most = 1.0;
        var coefficient = full_like(totalNorm, held).div_(totalNorm.add_(epsilon)).clamp_max_(most);
        _gradients.mul_(coefficient);
    }

    public void Step()
    {
        AdoptGradients();
        StepCount++;
        var biasCorrection1 = 1 - Math.Pow(_beta1, StepCount);
        var biasCorrection2Sqrt = Math.Sqrt(1 - Math.Pow(_beta2, StepCount));
        var stepSize = LearningRate / biasCorrection1;
        using var noGrad = no_grad();
        foreach (var (range, weightDecay) in _decayRanges)
        {
            using Scalar kept = 1 - LearningRate * weightDecay;
            range.mul_(kept);
        }
        // Made once a step and held to its end (see HeldScalars), not one per chunk and operation.
        using Scalar beta1 = _beta1, gradientShare1 = 1 - _beta1, beta2 = _beta2, gradientShare2 = 1 - _beta2;
        using Scalar correction2 = biasCorrection2Sqrt, eps = _eps, negativeStepSize = -stepSize;
        // Over the whole buffer, untrained parameters included: their gradient and moments are zero, so the moments
        // stay zero and their update is -stepSize · 0 / eps, exactly nothing, as when torch skips them.
        foreach (var (parameters, gradients, expAvg, expAvgSq, scratch) in _chunks)
        {
            expAvg.mul_(beta1).add_(gradients, gradientShare1);
            expAvgSq.mul_(beta2).addcmul_(gradients, gradients, gradientShare2);
            // torch's exact order of operations: a parameter whose gradient is pure rounding noise (an attention key
            // bias has a zero true gradient) is updated by noise/noise, and any reordering shows up there.
            scratch.copy_(expAvgSq).sqrt_().div_(correction2).add_(eps);
            parameters.addcdiv_(expAvg, scratch, negativeStepSize);
        }
    }

    /// <summary>
    /// Elements per update chunk on the CPU. There a launch costs little and memory bandwidth is what counts: the
    /// update's ten passes over the five buffers run chunk by chunk, so each chunk's working set stays in cache.
    /// For MiniLM on 2 cores, zeroing, dividing, clipping and updating took 66 ms a step over whole buffers, 56 ms per
    /// parameter tensor, 51 ms in chunks of 2^16 elements and 48 ms in chunks of 2^18. On a GPU, one chunk.
    /// </summary>
    private const long CpuChunk = 1 << 18;

    private static List<(Tensor, Tensor, Tensor, Tensor, Tensor)> Chunks(Tensor[] buffers)
    {
        var length = buffers[0].numel();
        var size = buffers[0].device_type == TorchSharp.DeviceType.CPU ? CpuChunk : length;
        var chunks = new List<(Tensor, Tensor, Tensor, Tensor, Tensor)>();
        for (var start = 0L; start < length; start += size)
        {
            var views = buffers.Select(b => b.narrow(0, start, Math.Min(size, length - start)).DetachFromDisposeScope()).ToArray();
            chunks.Add((views[0], views[1], views[2], views[3], views[4]));
        }
        return chunks;
    }

    private const string StepKey = "__step__";

    /// <summary>Moments and step count as safetensors, keyed by parameter name.</summary>
    public void Save(string path)
    {
        using var scope = NewDisposeScope();
        var tensors = _slots.SelectMany(s => new[] { KeyValuePair.Create($"exp_avg.{s.Name}", Slice(_expAvg, s)), KeyValuePair.Create($"exp_avg_sq.{s.Name}", Slice(_expAvgSq, s)) })
            .Append(KeyValuePair.Create(StepKey, tensor(new[] { StepCount })));
        Safetensors.Save(path, tensors);
    }

    public void Load(string path)
    {
        using var scope = NewDisposeScope();
        var tensors = Safetensors.Load(path);
        var expected = _slots.Length * 2 + 1;
        if (tensors.Count != expected)
            throw new InvalidDataException($"{path}: holds optimizer state for {(tensors.Count - 1) / 2} parameters, this trial trains {_slots.Length}; the checkpoint was made with another freeze depth or model.");
        using var noGrad = no_grad();
        foreach (var slot in _slots)
        {
            foreach (var (key, target) in new[] { ($"exp_avg.{slot.Name}", Slice(_expAvg, slot)), ($"exp_avg_sq.{slot.Name}", Slice(_expAvgSq, slot)) })
            {
                if (!tensors.TryGetValue(key, out var saved)) throw new InvalidDataException($"{path}: no optimizer state '{key}'; the checkpoint was made for other trainable parameters.");
                if (!saved.shape.SequenceEqual(target.shape)) throw new InvalidDataException($"{path}: optimizer state '{key}' has shape [{string.Join(", ", saved.shape)}], parameter has [{string.Join(", ", target.shape)}].");
                target.copy_(saved);
            }
        }
        StepCount = tensors.TryGetValue(StepKey, out var step) ? step.item<long>() : throw new InvalidDataException($"{path}: no step count.");
    }

    /// <summary>The parameters and gradients keep the storage they view; only the optimizer's own handles go.</summary>
    public void Dispose()
    {
        foreach (var (range, _) in _decayRanges) range.Dispose();
        foreach (var (parameters, gradients, expAvg, expAvgSq, scratch) in _chunks)
            foreach (var view in new[] { parameters, gradients, expAvg, expAvgSq, scratch }) view.Dispose();
        _parameters.Dispose();
        _gradients.Dispose();
        _expAvg.Dispose();
        _expAvgSq.Dispose();
        _scratch.Dispose();
    }
}
