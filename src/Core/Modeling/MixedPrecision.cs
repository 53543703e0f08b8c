using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Modeling;

/// <summary>
/// The dtype a model's matmuls run in, shared by all of its modules: torch.autocast done by hand, since TorchSharp
/// has none. Parameters stay fp32 and every matmul casts its input, weight and bias to the compute type, so gradients
/// reach the fp32 parameters through the casts and the optimizer never sees a low-precision tensor. LayerNorm runs in
/// fp32 and the heads hand back fp32 logits, so softmax and loss are fp32 too. Being a plain object, not a module, it
/// leaves the module tree and the state-dict keys as they are. In fp32 nothing is cast: the calls are the ones the
/// modules made before mixed precision existed.
/// </summary>
public sealed class MixedPrecision
{
    private ScalarType _computeType = ScalarType.Float32;

    /// <summary>Float32, or BFloat16 for matmuls and attention in bfloat16.</summary>
    public ScalarType ComputeType
    {
        get => _computeType;
        set => _computeType = value is ScalarType.Float32 or ScalarType.BFloat16 ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "compute type must be Float32 or BFloat16");
    }

    private bool Casts => _computeType != ScalarType.Float32;

    public Tensor Linear(Linear layer, Tensor input) => Casts ? Linear(input, layer.weight!, layer.bias) : layer.call(input);

    public Tensor Linear(Tensor input, Tensor weight, Tensor? bias) => Casts
        ? nn.functional.linear(input.to_type(_computeType), weight.to_type(_computeType), bias?.to_type(_computeType))
        : nn.functional.linear(input, weight, bias);

    /// <summary>LayerNorm in fp32, whatever its input's type; its output is fp32.</summary>
    public Tensor Norm(LayerNorm norm, Tensor input) => norm.call(Casts ? input.to_type(ScalarType.Float32) : input);

    /// <summary>A head's output in fp32, for the softmax and loss that follow.</summary>
    public Tensor Fp32(Tensor output) => Casts ? output.to_type(ScalarType.Float32) : output;
}
