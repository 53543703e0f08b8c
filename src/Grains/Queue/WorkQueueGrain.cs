using ExperimentGrid.Contracts;
using Microsoft.Extensions.Options;

namespace ExperimentGrid.Grains.Queue;

public sealed class WorkQueueGrain(
    [PersistentState("queue", StorageNames.Grid)] IPersistentState<WorkQueueState> state,
    IOptions<GridOptions> options) : Grain, IWorkQueueGrain
{
    /// <summary>The silos whose slots asked lately, with what they hold: volatile, renewed by every claim.</summary>
    private readonly Dictionary<string, (DateTimeOffset Asked, IReadOnlyList<string> Held)> _askers = [];

    /// <summary>A silo that asked within three idle polls still has a free slot, or will have at its next poll.</summary>
    private TimeSpan FreeSlotWindow => options.Value.IdlePollInterval * 3;

    public async Task EnqueueAsync(string trialKey, string? affinity = null)
    {
        if (state.State.Waiting.Contains(trialKey)) return;
        state.State.Waiting.Add(trialKey);
        if (affinity is not null) state.State.Affinity[trialKey] = affinity;
        await state.WriteOrDeactivateAsync(this);
    }

    public async Task<string?> ClaimAsync(SlotClaim claim)
    {
        var now = DateTimeOffset.UtcNow;
        _askers[claim.Silo] = (now, claim.Held);
        var waiting = state.State.Waiting;
        if (waiting.Count == 0) return null;
        var heldElsewhere = _askers.Where(a => a.Key != claim.Silo && now - a.Value.Asked <= FreeSlotWindow)
            .SelectMany(a => a.Value.Held).ToHashSet();
        string? Affinity(string key) => state.State.Affinity.GetValueOrDefault(key);
        var next = waiting.FirstOrDefault(key => Affinity(key) is { } family && claim.Held.Contains(family))
                   ?? waiting.FirstOrDefault(key => Affinity(key) is not { } family || !heldElsewhere.Contains(family));
        if (next is null) return null;
        waiting.Remove(next);
        state.State.Affinity.Remove(next);
        await state.WriteOrDeactivateAsync(this);
        return next;
    }

    public Task<IReadOnlyList<string>> PeekAsync() => Task.FromResult<IReadOnlyList<string>>([.. state.State.Waiting]);
}
