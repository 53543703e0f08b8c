using ExperimentGrid.Contracts;

namespace ExperimentGrid.Grains.Leaderboard;

[GenerateSerializer]
public sealed class LeaderboardState
{
    [Id(0)] public List<LeaderboardEntry> Entries { get; set; } = [];
}
