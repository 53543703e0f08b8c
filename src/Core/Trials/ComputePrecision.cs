using System.Reflection;
using System.Text.Json.Serialization;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Trials;

/// <summary>The arithmetic a trial trains and evaluates in. Weights, gradients and optimizer state are fp32 in both.</summary>
public enum ComputePrecision
{
    [JsonStringEnumMemberName("fp32")]
    Fp32,

    /// <summary>Mixed precision as torch.autocast(bfloat16): matmuls and attention in bfloat16; LayerNorm, softmax and loss in fp32.</summary>
    [JsonStringEnumMemberName("bf16")]
    Bf16,
}

public static class ComputePrecisions
{
    /// <summary>The dtype matmuls and attention run in.</summary>
    public static ScalarType ComputeType(ComputePrecision precision) => precision == ComputePrecision.Bf16 ? ScalarType.BFloat16 : ScalarType.Float32;

    /// <summary>
    /// Lets fp32 matmuls (cuBLAS) and convolutions (cuDNN) on CUDA round their inputs to TF32, or forbids it. libtorch
    /// keeps this as one process-wide switch; on the CPU it changes nothing.
    /// </summary>
    public static void UseTf32(bool allowed)
    {
        backends.cuda.matmul.allow_tf32 = allowed;
        backends.cudnn.allow_tf32 = allowed;
    }
}
