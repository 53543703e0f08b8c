using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.TestSupport;

public enum FakeFaultKind
{
    /// <summary>The step throws <see cref="InjectedFaultException"/> with the fault's message, before it trains.</summary>
    Exception,

    /// <summary>The step's loss is NaN, so it throws TrainingDivergedException as the real trainer does.</summary>
    NaNLoss,
}

/// <summary>
/// A failure injected into the trials that <see cref="Applies"/> picks, at optimizer step <see cref="Step"/> counted from
/// 1 over the whole trial as TrainingProgress.Step is (0: in Setup, as bad data fails), on each of a trial's first
/// <see cref="Attempts"/> attempts: a fault that clears after one attempt shows a retry succeeding.
/// </summary>
public sealed record FakeFault(Func<TrialSpec, bool> Applies, int Step, FakeFaultKind Kind)
{
    public int Attempts { get; init; } = int.MaxValue;

    /// <summary>The exception's message; a NaN loss says what the real trainer says.</summary>
    public string Message { get; init; } = "injected failure";

    public static FakeFault Throws(Func<TrialSpec, bool> applies, int step, string message) =>
        new(applies, step, FakeFaultKind.Exception) { Message = message };

    public static FakeFault NaNLoss(Func<TrialSpec, bool> applies, int step) => new(applies, step, FakeFaultKind.NaNLoss);

    internal bool Fires(TrialSpec spec, int attempt, int step) => Step == step && attempt <= Attempts && Applies(spec);
}

/// <summary>What a <see cref="FakeFault"/> of kind Exception throws.</summary>
public sealed class InjectedFaultException(string message) : Exception(message);
