using ExperimentGrid.Contracts;

namespace ExperimentGrid.Grains.Leaderboard;

public sealed class LeaderboardGrain([PersistentState("leaderboard", StorageNames.Grid)] IPersistentState<LeaderboardState> state) : Grain, ILeaderboardGrain
{
    public async Task<bool> RecordAsync(LeaderboardEntry entry)
    {
        // A trial whose silo died after recording but before its trial grain saved "completed" runs again and
        // records again; the first result stands, so each trial is on the board exactly once.
        if (state.State.Entries.Exists(e => e.TrialKey == entry.TrialKey)) return false;
        state.State.Entries.Add(entry);
        await state.WriteOrDeactivateAsync(this);
        return true;
    }

    public Task<IReadOnlyList<LeaderboardEntry>> TopAsync(string? sweepId, int top)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        IReadOnlyList<LeaderboardEntry> ranked = [.. state.State.Entries
            .Where(e => sweepId is null || e.SweepId == sweepId)
            .OrderByDescending(e => e.Score)
            .ThenBy(e => e.RecordedAt)
            .Take(top)];
        return Task.FromResult(ranked);
    }

    public Task<IReadOnlyList<LeaderboardRow>> RankAsync(string? sweepId, int top)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        IReadOnlyList<LeaderboardRow> ranked = [.. LeaderboardRow.Rank(state.State.Entries, sweepId).Take(top)];
        return Task.FromResult(ranked);
    }
}
