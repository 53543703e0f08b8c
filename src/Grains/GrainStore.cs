using ExperimentGrid.Contracts;

namespace ExperimentGrid.Grains;

public static class GrainStore
{
    /// <summary>
    /// Writes the grain's state. Where the store fails (PostgreSQL restarting, say), what the grain holds in memory was
    /// never stored: the grain deactivates, so that its next call reads what the store does hold, and the caller gets a
    /// <see cref="StoreUnavailableException"/>, which <see cref="ClusterFaults.IsUnreachable"/> tells it to retry.
    /// </summary>
    public static async Task WriteOrDeactivateAsync<T>(this IPersistentState<T> state, IGrainBase grain)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception e) when (e is not StoreUnavailableException)
        {
            grain.DeactivateOnIdle();
            throw new StoreUnavailableException($"{grain.GrainContext.GrainId}: state not stored: {(e.InnerException ?? e).Message}");
        }
    }
}
