namespace ExperimentGrid.Grains.Queue;

[GenerateSerializer]
public sealed class WorkQueueState
{
    [Id(0)] public List<string> Waiting { get; set; } = [];
}
