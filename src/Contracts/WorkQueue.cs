namespace ExperimentGrid.Contracts;

/// <summary>
/// The cluster's one queue of trials waiting for a slot (key 0). Slots pull from it only when free, so placement
/// follows free capacity and trials start in the order they were queued, except that a trial goes preferably to a silo
/// that holds its frozen prefix (its affinity), where one has a slot free.
/// </summary>
public interface IWorkQueueGrain : IGrainWithIntegerKey
{
    /// <summary>Appends a trial key unless it is already waiting; <paramref name="affinity"/> names the prefix it reads, if any.</summary>
    Task EnqueueAsync(string trialKey, string? affinity = null);

    /// <summary>
    /// Takes a waiting trial key for a free slot: the first whose affinity the slot's silo holds; else the first that no
    /// other silo with a free slot holds; else null, the trial left for its holder to claim within a poll or two.
    /// </summary>
    Task<string?> ClaimAsync(SlotClaim claim);

    Task<IReadOnlyList<string>> PeekAsync();
}

/// <summary>A free slot asking for work: its silo and the affinities (frozen-prefix families) that silo holds warm.</summary>
[GenerateSerializer, Immutable]
public sealed record SlotClaim([property: Id(0)] string Silo, [property: Id(1)] IReadOnlyList<string> Held);
