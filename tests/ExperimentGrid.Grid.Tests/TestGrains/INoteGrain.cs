namespace ExperimentGrid.Grid.Tests.TestGrains;

/// <summary>A grain with persistent state and a reminder: just enough to see both stores keep them.</summary>
public interface INoteGrain : IGrainWithStringKey
{
    Task WriteAsync(string text);

    Task<string?> ReadAsync();

    Task RemindAsync(string reminderName);

    Task<bool> HasReminderAsync(string reminderName);
}
