using Orleans.Runtime;

namespace ExperimentGrid.Contracts;

public static class ClusterFaults
{
    /// <summary>
    /// Whether a grain call failed because its grain's silo is gone or going, and not because of the call itself: the
    /// grain comes back on another silo once the cluster has declared the old one dead, so a later call can succeed.
    /// </summary>
    public static bool IsUnreachable(Exception e) => e is TimeoutException or SiloUnavailableException or OrleansMessageRejectionException;
}
