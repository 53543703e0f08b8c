using TorchSharp;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Modeling;

/// <summary>
/// Numbers handed to libtorch as Scalars that stay alive for the whole call. TorchSharp turns a number into a Scalar,
/// a native object that only its finalizer frees, and no dispose scope holds it; nor does TorchSharp keep it alive
/// across its own native call. A temporary Scalar (the 0.9 of <c>mul_(0.9)</c>, or the alpha of 1 that <c>a + b</c>
/// makes inside TorchSharp) can therefore be found dead by a collection that another thread starts, and freed while
/// libtorch reads it: `dotnet run --project benchmarks/ExperimentGrid.GcRace` shows it. Code on the training path
/// passes a held Scalar instead: one of these, or a local it disposes (and so keeps alive) after the call.
/// </summary>
public static class HeldScalars
{
    public static readonly Scalar One = 1;

    /// <summary><c>a + b</c>, with an alpha that outlives the call (TorchSharp's subtraction takes no alpha, so needs none).</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>a += b</c> in place, with an alpha that outlives the call.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);
}
