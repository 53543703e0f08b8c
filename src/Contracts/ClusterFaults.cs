using Orleans.Runtime;

namespace ExperimentGrid.Contracts;

public static class ClusterFaults
{
    /// <summary>
    /// Whether a grain call failed because its grain's silo is gone or going, or its store is away for a moment (a
    /// PostgreSQL restart), and not because of the call itself: the grain comes back on another silo once the cluster
    /// has declared the old one dead, or reads its state afresh once the store answers, so a later call can succeed.
    /// </summary>
    public static bool IsUnreachable(Exception e) =>
        e is TimeoutException or SiloUnavailableException or OrleansMessageRejectionException or StoreUnavailableException;
}

/// <summary>
/// A grain could not store its state, and dropped what it had not stored: its next call reads what the store holds.
/// Thrown in place of the store's own exception (Npgsql's, say), which Orleans cannot send back to the caller.
/// </summary>
[GenerateSerializer]
public sealed class StoreUnavailableException : Exception
{
    public StoreUnavailableException()
    {
    }

    public StoreUnavailableException(string message) : base(message)
    {
    }
}
