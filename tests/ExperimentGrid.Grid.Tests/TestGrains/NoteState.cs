namespace ExperimentGrid.Grid.Tests.TestGrains;

[GenerateSerializer]
public sealed class NoteState
{
    [Id(0)]
    public string? Text { get; set; }
}
