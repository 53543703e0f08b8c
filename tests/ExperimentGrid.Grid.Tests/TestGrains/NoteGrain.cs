using ExperimentGrid.Grains;

namespace ExperimentGrid.Grid.Tests.TestGrains;

public sealed class NoteGrain([PersistentState("note", StorageNames.Grid)] IPersistentState<NoteState> note) : Grain, INoteGrain, IRemindable
{
    public Task WriteAsync(string text)
    {
        note.State.Text = text;
        return note.WriteStateAsync();
    }

    public Task<string?> ReadAsync() => Task.FromResult(note.State.Text);

    // Due in an hour: the tests look at the stored reminder, never wait for it to fire.
    public Task RemindAsync(string reminderName) =>
        this.RegisterOrUpdateReminder(reminderName, TimeSpan.FromHours(1), TimeSpan.FromHours(1));

    public async Task<bool> HasReminderAsync(string reminderName) => await this.GetReminder(reminderName) is not null;

    public Task ReceiveReminder(string reminderName, TickStatus status) => Task.CompletedTask;
}
