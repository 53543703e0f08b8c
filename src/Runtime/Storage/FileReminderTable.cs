using System.Globalization;
using System.Text.Json;

namespace ExperimentGrid.Runtime.Storage;

/// <summary>
/// Reminders in one JSON file, for the single-machine grid: a sweep's reminders must survive a restart just as its
/// grain state does, or an interrupted sweep would never be woken to carry on. The table is small (a few reminders
/// per running sweep), so every change rewrites the whole file atomically; ETags are per-reminder versions.
/// Changes copy the dictionary and publish the copy once the file is written, so reads need no lock.
/// </summary>
public sealed class FileReminderTable(EmbeddedStore store) : IReminderTable
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile Dictionary<(GrainId Grain, string Name), StoredReminder> _reminders = [];

    private string FilePath => Path.Combine(store.Directory, "reminders.json");

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        List<StoredReminder>? stored;
        try
        {
            await using var file = File.OpenRead(FilePath);
            stored = await JsonSerializer.DeserializeAsync<List<StoredReminder>>(file, Json, cancellationToken);
        }
        catch (FileNotFoundException)
        {
            return;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{FilePath}: not a reminder table: {e.Message}", e);
        }
        _reminders = (stored ?? []).ToDictionary(r => (GrainId.Parse(r.GrainId), r.Name));
    }

    public Task<ReminderTableData> ReadRows(GrainId grainId) =>
        Task.FromResult(Table(_reminders.Where(r => r.Key.Grain == grainId)));

    /// <summary>The reminders of grains whose hash is in the ring range (begin, end], which wraps when begin ≥ end.</summary>
    public Task<ReminderTableData> ReadRows(uint begin, uint end) =>
        Task.FromResult(Table(_reminders.Where(r =>
        {
            var hash = r.Key.Grain.GetUniformHashCode();
            return begin < end ? hash > begin && hash <= end : hash > begin || hash <= end;
        })));

    public Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName) =>
        Task.FromResult(_reminders.TryGetValue((grainId, reminderName), out var r) ? Entry(grainId, r) : null);

    public Task<string?> UpsertRow(ReminderEntry entry) => WritingAsync<string?>(async () =>
    {
        var version = _reminders.TryGetValue((entry.GrainId, entry.ReminderName), out var old) ? old.Version + 1 : 0;
        var updated = new Dictionary<(GrainId, string), StoredReminder>(_reminders)
        {
            [(entry.GrainId, entry.ReminderName)] = new(entry.GrainId.ToString(), entry.ReminderName, entry.StartAt, (long)entry.Period.TotalMilliseconds, version),
        };
        await SaveAsync(updated);
        return version.ToString(CultureInfo.InvariantCulture);
    });

    public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag) => WritingAsync(async () =>
    {
        if (!_reminders.TryGetValue((grainId, reminderName), out var r) || r.Version.ToString(CultureInfo.InvariantCulture) != eTag) return false;
        var updated = new Dictionary<(GrainId, string), StoredReminder>(_reminders);
        updated.Remove((grainId, reminderName));
        await SaveAsync(updated);
        return true;
    });

    public Task TestOnlyClearTable() => WritingAsync(async () => { await SaveAsync([]); return true; });

    /// <summary>Writes the file first and only then adopts the change, so memory never holds what the disk lacks.</summary>
    private async Task SaveAsync(Dictionary<(GrainId, string), StoredReminder> reminders)
    {
        await EmbeddedStore.WriteAtomicallyAsync(FilePath, JsonSerializer.SerializeToUtf8Bytes(reminders.Values.ToList(), Json));
        _reminders = reminders;
    }

    private async Task<T> WritingAsync<T>(Func<Task<T>> body)
    {
        await _gate.WaitAsync();
        try
        {
            return await body();
        }
        finally
        {
            _gate.Release();
        }
    }

    private static ReminderTableData Table(IEnumerable<KeyValuePair<(GrainId Grain, string Name), StoredReminder>> rows) =>
        new(rows.Select(r => Entry(r.Key.Grain, r.Value)));

    private static ReminderEntry Entry(GrainId grainId, StoredReminder r) => new()
    {
        GrainId = grainId,
        ReminderName = r.Name,
        StartAt = r.StartAt,
        Period = TimeSpan.FromMilliseconds(r.PeriodMilliseconds),
        ETag = r.Version.ToString(CultureInfo.InvariantCulture),
    };

    private sealed record StoredReminder(string GrainId, string Name, DateTime StartAt, long PeriodMilliseconds, int Version);
}
