using System.Text.Json;
using ExperimentGrid.Core.Caching;

namespace ExperimentGrid.Core.Tests;

/// <summary>The shared cache under faults: damaged, half-written and concurrently written entries, and its size limit.</summary>
public sealed class CacheStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("cache-store-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static readonly Dictionary<string, string> About = new() { ["what"] = "test" };

    private static readonly JsonSerializerOptions ManifestJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    internal static CacheManifest Manifest(string directory) =>
        JsonSerializer.Deserialize<CacheManifest>(File.ReadAllText(Path.Combine(directory, CacheStore.ManifestFile)), ManifestJson)!;

    /// <summary>Gets or builds an entry of one file holding <paramref name="bytes"/>, counting the builds.</summary>
    private static byte[] Read(CacheStore store, string key, byte[] bytes, ref int builds)
    {
        var built = 0;
        using var lease = store.GetOrCreate("test", key, About, directory =>
        {
            built++;
            File.WriteAllBytes(Path.Combine(directory, "data.bin"), bytes);
        });
        builds += built;
        return File.ReadAllBytes(lease.File("data.bin"));
    }

    [Fact]
    public void An_entry_is_built_once_and_then_read()
    {
        var store = new CacheStore(_root, 1 << 20);
        var builds = 0;
        Assert.Equal([1, 2, 3], Read(store, "k", [1, 2, 3], ref builds));
        Assert.Equal([1, 2, 3], Read(new CacheStore(_root, 1 << 20), "k", [9, 9, 9], ref builds));
        Assert.Equal(1, builds);
    }

    [Theory]
    [InlineData("flip a byte")]
    [InlineData("truncate")]
    [InlineData("delete the manifest")]
    [InlineData("garble the manifest")]
    public void A_damaged_entry_is_detected_and_rebuilt_never_read(string damage)
    {
        var builds = 0;
        Read(new CacheStore(_root, 1 << 20), "k", [1, 2, 3, 4], ref builds);
        var entry = Path.Combine(_root, "test", "k");
        var data = Path.Combine(entry, "data.bin");
        switch (damage)
        {
            case "flip a byte": File.WriteAllBytes(data, [1, 2, 7, 4]); break;
            case "truncate": File.WriteAllBytes(data, [1, 2]); break;
            case "delete the manifest": File.Delete(Path.Combine(entry, CacheStore.ManifestFile)); break;
            default: File.WriteAllText(Path.Combine(entry, CacheStore.ManifestFile), "{ \"files\": "); break;
        }
        // A new process: nothing verified yet.
        Assert.Equal([5, 6, 7, 8], Read(new CacheStore(_root, 1 << 20), "k", [5, 6, 7, 8], ref builds));
        Assert.Equal(2, builds);
    }

    [Fact]
    public void A_half_written_entry_is_not_an_entry()
    {
        var store = new CacheStore(_root, 1 << 20);
        var pending = store.NewPendingDirectory("test");
        File.WriteAllBytes(Path.Combine(pending, "data.bin"), [1]);
        var builds = 0;
        Assert.Null(store.TryOpen("test", "k"));
        Assert.Empty(store.Entries());
        Assert.Equal([2], Read(store, "k", [2], ref builds));
        Assert.Equal(1, builds);
    }

    [Fact]
    public void A_writer_that_fails_leaves_nothing_behind()
    {
        var store = new CacheStore(_root, 1 << 20);
        Assert.Throws<IOException>(() => store.GetOrCreate("test", "k", About, directory =>
        {
            File.WriteAllBytes(Path.Combine(directory, "data.bin"), [1]);
            throw new IOException("disk full");
        }));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, "test")));
    }

    [Fact]
    public void Silos_filling_one_entry_at_once_leave_one_whole_entry()
    {
        // Eight stores over one root, as eight silos over a shared disk: each writes its own copy, slowly.
        var payload = Enumerable.Range(0, 1 << 16).Select(i => (byte)(i * 31)).ToArray();
        var results = new byte[8][];
        var builds = 0;
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var store = new CacheStore(_root, 1 << 24);
            using var lease = store.GetOrCreate("test", "shared", About, directory =>
            {
                Interlocked.Increment(ref builds);
                using var file = File.Create(Path.Combine(directory, "data.bin"));
                foreach (var chunk in payload.Chunk(4096))
                {
                    file.Write(chunk);
                    Thread.Sleep(1);
                }
            });
            results[i] = File.ReadAllBytes(lease.File("data.bin"));
        });
        Assert.All(results, r => Assert.Equal(payload, r));
        Assert.Single(new CacheStore(_root, 1 << 24).Entries());
        Assert.True(builds >= 1);
        Assert.Equal(["shared"], Directory.EnumerateDirectories(Path.Combine(_root, "test")).Select(Path.GetFileName));
    }

    [Fact]
    public void Above_its_size_limit_the_least_recently_used_entries_go_but_not_open_ones()
    {
        long OneEntryBytes() => new CacheStore(_root, 1 << 20).Entries().Single().Bytes;
        var builds = 0;
        Read(new CacheStore(_root, 1 << 20), "a", new byte[400], ref builds);
        // Room for three such entries, manifests included, not four.
        var store = new CacheStore(_root, OneEntryBytes() * 7 / 2);
        using var held = store.TryOpen("test", "a");
        Thread.Sleep(20);
        Read(store, "b", new byte[400], ref builds);
        Thread.Sleep(20);
        Read(store, "c", new byte[400], ref builds);
        Thread.Sleep(20);
        Read(store, "b", new byte[400], ref builds);
        Thread.Sleep(20);
        Read(store, "d", new byte[400], ref builds);

        var left = store.Entries().Select(e => Path.GetFileName(e.Directory)).Order().ToList();
        Assert.Equal(["a", "b", "d"], left);
        Assert.True(store.Entries().Sum(e => e.Bytes) <= store.MaxBytes, $"{store.Entries().Sum(e => e.Bytes)} bytes kept");
    }
}
