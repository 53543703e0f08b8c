using ExperimentGrid.Contracts;

namespace ExperimentGrid.Grains.Queue;

public sealed class WorkQueueGrain([PersistentState("queue", StorageNames.Grid)] IPersistentState<WorkQueueState> state) : Grain, IWorkQueueGrain
{
    public async Task EnqueueAsync(string trialKey)
    {
        if (state.State.Waiting.Contains(trialKey)) return;
        state.State.Waiting.Add(trialKey);
        await state.WriteOrDeactivateAsync(this);
    }

    public async Task<string?> ClaimAsync()
    {
        if (state.State.Waiting.Count == 0) return null;
        var next = state.State.Waiting[0];
        state.State.Waiting.RemoveAt(0);
        await state.WriteOrDeactivateAsync(this);
        return next;
    }

    public Task<IReadOnlyList<string>> PeekAsync() => Task.FromResult<IReadOnlyList<string>>([.. state.State.Waiting]);
}
