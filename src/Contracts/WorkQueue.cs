namespace ExperimentGrid.Contracts;

/// <summary>
/// The cluster's one queue of trials waiting for a slot (key 0). Slots pull from it only when free, so placement
/// follows free capacity and trials start in the order they were queued.
/// </summary>
public interface IWorkQueueGrain : IGrainWithIntegerKey
{
    /// <summary>Appends a trial key unless it is already waiting.</summary>
    Task EnqueueAsync(string trialKey);

    /// <summary>Takes the first waiting trial key, or null when none waits.</summary>
    Task<string?> ClaimAsync();

    Task<IReadOnlyList<string>> PeekAsync();
}
