using ExperimentGrid.Contracts;

namespace ExperimentGrid.Grains.Sweeps;

public sealed class SweepIndexGrain([PersistentState("sweeps", StorageNames.Grid)] IPersistentState<SweepIndexState> state) : Grain, ISweepIndexGrain
{
    public async Task AddAsync(string sweepId)
    {
        if (state.State.SweepIds.Contains(sweepId)) return;
        state.State.SweepIds.Add(sweepId);
        await state.WriteOrDeactivateAsync(this);
    }

    public Task<IReadOnlyList<string>> ListAsync() => Task.FromResult<IReadOnlyList<string>>([.. state.State.SweepIds]);
}
