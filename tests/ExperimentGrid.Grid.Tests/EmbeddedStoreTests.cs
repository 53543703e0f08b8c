using ExperimentGrid.Grains;
using ExperimentGrid.Grid.Tests.TestGrains;
using ExperimentGrid.Runtime.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace ExperimentGrid.Grid.Tests;

[Collection(SiloCollection.Name)]
public sealed class EmbeddedStoreTests : IDisposable
{
    private static readonly GrainId Grain = GrainId.Create("note", "n1");

    private readonly TemporaryDirectory _temporary = new();

    private string StoreDirectory => _temporary.Path;

    public void Dispose() => _temporary.Dispose();

    [Fact]
    public async Task Grain_state_and_reminders_outlive_the_silo()
    {
        var first = Silos.Options(StoreDirectory);
        await using (var silo = await Silos.StartAsync(first))
        {
            await silo.Note("n1").WriteAsync("written before the restart");
            await silo.Note("n1").RemindAsync("wake");
            await silo.StopAsync();
        }

        await using (var silo = await Silos.StartAsync(Silos.Restarted(first)))
        {
            Assert.Equal("written before the restart", await silo.Note("n1").ReadAsync());
            Assert.True(await silo.Note("n1").HasReminderAsync("wake"));
            Assert.False(await silo.Note("n2").HasReminderAsync("wake"));
            await silo.StopAsync();
        }
    }

    [Fact]
    public async Task A_write_with_a_stale_ETag_is_refused_and_the_stored_state_is_kept()
    {
        using var store = await OpenAsync();
        var storage = Storage(store);
        var first = await ReadAsync(storage);
        var second = await ReadAsync(storage);

        first.State!.Text = "first";
        await storage.WriteStateAsync("note", Grain, first);
        second.State!.Text = "second";
        var conflict = await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("note", Grain, second));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("note", Grain, second));

        Assert.Null(conflict.CurrentEtag);
        Assert.Equal(first.ETag, conflict.StoredEtag);
        Assert.Equal("first", (await ReadAsync(storage)).State!.Text);
    }

    [Fact]
    public async Task Of_many_concurrent_first_writes_of_one_grain_exactly_one_succeeds()
    {
        using var store = await OpenAsync();
        var storage = Storage(store);

        var writes = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            var state = new GrainState<NoteState>(new NoteState { Text = $"writer {i}" });
            try
            {
                await storage.WriteStateAsync("note", Grain, state);
                return state.State!.Text;
            }
            catch (InconsistentStateException)
            {
                return null;
            }
        }));
        var winners = (await Task.WhenAll(writes)).OfType<string>().ToList();

        var winner = Assert.Single(winners);
        Assert.Equal(winner, (await ReadAsync(storage)).State!.Text);
    }

    [Fact]
    public async Task Clearing_keeps_a_version_so_a_writer_from_before_the_clear_still_conflicts()
    {
        using var store = await OpenAsync();
        var storage = Storage(store);
        var state = new GrainState<NoteState>(new NoteState { Text = "to be cleared" });
        await storage.WriteStateAsync("note", Grain, state);
        var stale = await ReadAsync(storage);

        await storage.ClearStateAsync("note", Grain, state);

        Assert.False(state.RecordExists);
        Assert.Null(state.State!.Text);
        var cleared = await ReadAsync(storage);
        Assert.False(cleared.RecordExists);
        Assert.Equal(state.ETag, cleared.ETag);
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("note", Grain, stale));
    }

    [Fact]
    public async Task A_second_silo_on_the_same_state_directory_is_refused()
    {
        using var store = await OpenAsync();
        using var second = new EmbeddedStore(StoreDirectory);

        var e = await Assert.ThrowsAsync<IOException>(() => second.StartingAsync(CancellationToken.None));

        Assert.Contains($"{StoreDirectory}: the state directory is in use by another silo", e.Message);
    }

    [Fact]
    public async Task A_damaged_state_file_is_named()
    {
        using var store = await OpenAsync();
        var storage = Storage(store);
        await storage.WriteStateAsync("note", Grain, new GrainState<NoteState>(new NoteState { Text = "intact" }));
        var file = Directory.EnumerateFiles(Path.Combine(StoreDirectory, "grains", StorageNames.Grid)).Single();
        await File.WriteAllBytesAsync(file, (await File.ReadAllBytesAsync(file))[..10]);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => ReadAsync(storage));

        Assert.Equal($"{file}: grain state file is truncated.", e.Message);
    }

    [Fact]
    public async Task A_directory_of_an_earlier_versions_json_state_is_refused_before_the_silo_starts_and_left_as_it_was()
    {
        var grains = Directory.CreateDirectory(Path.Combine(StoreDirectory, "grains", StorageNames.Grid)).FullName;
        var earlier = Path.Combine(grains, "leaderboard.state");
        // Generation 1's header ("EGS1", a version, the key) and Orleans' JSON, as an earlier silo wrote them.
        byte[] bytes = [.. "EGS1"u8, 1, 0, 0, 0, .. "\u0018leaderboard/all"u8, 1, .. "{\"$id\":\"1\"}"u8];
        await File.WriteAllBytesAsync(earlier, bytes);
        using var store = new EmbeddedStore(StoreDirectory);

        var e = await Assert.ThrowsAsync<IOException>(() => store.StartingAsync(CancellationToken.None));

        Assert.Contains($"{StoreDirectory}: 1 file(s) of grain state written by an earlier ExperimentGrid, in Orleans' JSON", e.Message);
        Assert.Contains($"(the first: {earlier})", e.Message);
        Assert.Contains("start the silo with --state on a new directory", e.Message);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(earlier));
    }

    private async Task<EmbeddedStore> OpenAsync()
    {
        var store = new EmbeddedStore(StoreDirectory);
        await store.StartingAsync(CancellationToken.None);
        return store;
    }

    private static FileGrainStorage Storage(EmbeddedStore store)
    {
        var services = new ServiceCollection().AddSerializer(serializer => serializer.AddAssembly(typeof(NoteState).Assembly)).BuildServiceProvider();
        return new FileGrainStorage(StorageNames.Grid, store,
            new OrleansGrainStorageSerializer(services.GetRequiredService<Serializer>()), services.GetRequiredService<IActivatorProvider>());
    }

    private static async Task<GrainState<NoteState>> ReadAsync(FileGrainStorage storage)
    {
        var state = new GrainState<NoteState>();
        await storage.ReadStateAsync("note", Grain, state);
        return state;
    }
}
