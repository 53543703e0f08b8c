using static TorchSharp.torch;

namespace ExperimentGrid.Core.Trials;

/// <summary>--device auto|cpu|cuda|cuda:N. Code never assumes a device; tensors follow the model's.</summary>
public static class Devices
{
    public static bool IsValid(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        return t is "auto" or "cpu" or "cuda" || (t.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(t[5..], out var n) && n >= 0);
    }

    public static Device Resolve(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t == "auto") return cuda.is_available() ? CUDA : CPU;
        if (t == "cpu") return CPU;
        if (!IsValid(t)) throw new ArgumentException($"device: '{text}' is not a device (allowed: auto, cpu, cuda, cuda:N).");
        if (!cuda.is_available())
            throw new InvalidOperationException($"device: '{text}' requested, but this build has no CUDA device (TorchSharp CPU backend, or no GPU). Use --device cpu or auto.");
        return new Device(t);
    }
}
