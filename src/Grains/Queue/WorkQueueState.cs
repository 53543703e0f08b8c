namespace ExperimentGrid.Grains.Queue;

[GenerateSerializer]
public sealed class WorkQueueState
{
    [Id(0)] public List<string> Waiting { get; set; } = [];

    /// <summary>The affinity of each waiting trial that has one.</summary>
    [Id(1)] public Dictionary<string, string> Affinity { get; set; } = [];
}
