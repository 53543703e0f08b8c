namespace ExperimentGrid.Grains.Sweeps;

[GenerateSerializer]
public sealed class SweepIndexState
{
    [Id(0)] public List<string> SweepIds { get; set; } = [];
}
