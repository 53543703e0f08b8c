using System.Runtime.InteropServices;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Training;

/// <summary>
/// libtorch's out-of-memory error as TorchSharp surfaces it: an <see cref="ExternalException"/> whose message reads
/// "CUDA out of memory. Tried to allocate ..." (or another allocator's "out of memory").
/// </summary>
internal static class OutOfMemory
{
    public static bool Is(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
            if (e is ExternalException && e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>
    /// Gives back what the failed pass held. Its dispose scopes have freed their tensors already; tensors that escaped
    /// them are freed by their finalizers. TorchSharp 0.107 has no binding for torch.cuda.empty_cache, so the caching
    /// allocator keeps the freed blocks for the next, smaller pass, which is what it is about to run anyway.
    /// </summary>
    public static void Release()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>
    /// Consulted before each training micro-batch and each evaluation pass. Tests throw libtorch's error from it to
    /// take the out-of-memory path on the CPU; nothing else sets it.
    /// </summary>
    internal static Action<ForwardPass>? BeforeForward { get; set; }
}

/// <summary>A forward pass about to run: the trial's, at optimizer step <paramref name="Step"/>, over <paramref name="Size"/> examples.</summary>
internal readonly record struct ForwardPass(TrialSpec Spec, bool Training, int Step, int Size);

/// <summary>A trial ran out of memory at the smallest batch it can run; it fails with what to change.</summary>
public sealed class TrialOutOfMemoryException(string message, Exception inner) : Exception(message, inner);
