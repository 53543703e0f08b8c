using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ExperimentGrid.Core.Caching;

/// <summary>
/// A content-addressed store of derived data (tokenized splits, frozen-prefix activations) that trials and silos
/// share: {Root}/{kind}/{key}/, the key a hash of everything the data depends on, so equal inputs find equal data and
/// nothing is ever invalidated, only evicted (least recently used first, above <see cref="MaxBytes"/>).
/// An entry is written in a private directory and renamed into place whole, with a SHA-256 of each file in its
/// manifest; a damaged or half-written entry fails its check and is rebuilt, never read. Two writers of one entry both
/// finish; the first rename wins and the other's copy is dropped.
/// </summary>
public sealed class CacheStore
{
    public const string ManifestFile = "manifest.json";
    private const string LastUsedFile = "last-used";
    private const string PendingPrefix = ".pending-";

    /// <summary>Entries verified by this process, by directory and manifest time: each file is hashed once, not per trial.</summary>
    private readonly ConcurrentDictionary<string, DateTime> _verified = new();

    /// <summary>Entries a reader of this process holds open; eviction leaves them alone.</summary>
    private readonly ConcurrentDictionary<string, int> _inUse = new();

    private readonly ConcurrentDictionary<string, SemaphoreSlim> _building = new();
    private readonly ILogger _logger;

    public CacheStore(string root, long maxBytes, ILogger? logger = null)
    {
        if (maxBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "the cache needs room for at least one byte");
        Root = Path.GetFullPath(root);
        MaxBytes = maxBytes;
        _logger = logger ?? NullLogger.Instance;
    }

    public string Root { get; }
    public long MaxBytes { get; }

    /// <summary>A key from the parts an entry depends on: their SHA-256, so any change of any part is another entry.</summary>
    public static string Key(params IEnumerable<string> parts) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', parts.Select(p => $"{p.Length}:{p}")))));

    public static string HashFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>
    /// The entry, built by <paramref name="write"/> (into an empty directory) when it is missing or fails its check.
    /// Callers in this process that ask for one entry at once build it once; the lease keeps it from eviction until
    /// disposed.
    /// </summary>
    public CacheLease GetOrCreate(string kind, string key, IReadOnlyDictionary<string, string> description, Action<string> write)
    {
        if (TryOpen(kind, key) is { } found) return found;
        var gate = BuildGate(kind, key);
        gate.Wait();
        try
        {
            if (TryOpen(kind, key) is { } built) return built;
            var pending = NewPendingDirectory(kind);
            try
            {
                write(pending);
            }
            catch
            {
                TryDelete(pending);
                throw;
            }
            return Commit(kind, key, description, pending);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Held while this process builds an entry: callers that miss one entry at once build it once, the others waiting.
    /// Other processes may build it too; the first rename wins (<see cref="Commit"/>).
    /// </summary>
    public SemaphoreSlim BuildGate(string kind, string key) => _building.GetOrAdd(EntryDirectory(kind, key), _ => new SemaphoreSlim(1, 1));

    /// <summary>The entry if it is present and whole; a damaged one is deleted, so that the next writer rebuilds it.</summary>
    public CacheLease? TryOpen(string kind, string key)
    {
        var directory = EntryDirectory(kind, key);
        var lease = Acquire(directory);
        try
        {
            if (!Directory.Exists(directory)) return Release(lease);
            if (Damage(directory) is { } damage)
            {
                _logger.LogWarning("Cache entry {Entry} is damaged ({Damage}); rebuilding it", directory, damage);
                TryDelete(directory);
                return Release(lease);
            }
            File.WriteAllBytes(Path.Combine(directory, LastUsedFile), []);
            return lease;
        }
        catch (IOException e)
        {
            // Evicted or replaced by another silo between the check and the touch: as good as missing.
            _logger.LogDebug(e, "Cache entry {Entry} vanished while opened", directory);
            return Release(lease);
        }
    }

    /// <summary>An empty private directory to write a new entry in; <see cref="Commit"/> publishes it, <see cref="Abandon"/> drops it.</summary>
    public string NewPendingDirectory(string kind)
    {
        var pending = Path.Combine(Root, kind, PendingPrefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(pending);
        return pending;
    }

    public void Abandon(string pending) => TryDelete(pending);

    /// <summary>
    /// Checksums the files written in <paramref name="pending"/> and renames it into place as the entry; where another
    /// writer got there first, its entry stands and this copy is dropped. Then evicts down to the size limit.
    /// </summary>
    public CacheLease Commit(string kind, string key, IReadOnlyDictionary<string, string> description, string pending)
    {
        var directory = EntryDirectory(kind, key);
        try
        {
            var files = Directory.EnumerateFiles(pending).Select(Path.GetFileName).Order(StringComparer.Ordinal)
                .ToDictionary(name => name!, name => new CachedFile(new FileInfo(Path.Combine(pending, name!)).Length, HashFile(Path.Combine(pending, name!))));
            var manifest = new CacheManifest(kind, key, description, files, DateTimeOffset.UtcNow);
            var manifestPath = Path.Combine(pending, ManifestFile);
            File.WriteAllText(manifestPath, JsonSerializer.Serialize(manifest, ManifestJson));
            var stamp = File.GetLastWriteTimeUtc(manifestPath);
            try
            {
                Directory.Move(pending, directory);
                // Hashed a moment ago, as it was written: this process need not read it all again to trust it.
                _verified[directory] = stamp;
            }
            catch (IOException) when (Directory.Exists(directory))
            {
                // Another silo published the same entry first: same inputs, same data; ours goes.
                TryDelete(pending);
            }
        }
        catch
        {
            TryDelete(pending);
            throw;
        }
        var lease = TryOpen(kind, key) ?? throw new IOException($"cache entry {directory} disappeared right after it was written");
        Evict();
        return lease;
    }

    /// <summary>Deletes the least recently used entries until the cache fits <see cref="MaxBytes"/>; open entries stay.</summary>
    public void Evict()
    {
        var entries = Entries().OrderBy(e => e.LastUsed).ToList();
        var total = entries.Sum(e => e.Bytes);
        foreach (var entry in entries)
        {
            if (total <= MaxBytes) break;
            if (_inUse.TryGetValue(entry.Directory, out var readers) && readers > 0) continue;
            _logger.LogInformation("Cache over {Limit:N0} bytes: evicting {Entry} ({Bytes:N0} bytes, last used {LastUsed:u})",
                MaxBytes, entry.Directory, entry.Bytes, entry.LastUsed);
            TryDelete(entry.Directory);
            total -= entry.Bytes;
        }
    }

    /// <summary>Every whole entry, with its size and last use; pending writes are not entries yet.</summary>
    public IReadOnlyList<CacheEntryInfo> Entries()
    {
        if (!Directory.Exists(Root)) return [];
        var entries = new List<CacheEntryInfo>();
        foreach (var kindDirectory in Directory.EnumerateDirectories(Root))
        foreach (var directory in Directory.EnumerateDirectories(kindDirectory).Where(d => !Path.GetFileName(d).StartsWith(PendingPrefix, StringComparison.Ordinal)))
        {
            try
            {
                var files = new DirectoryInfo(directory).GetFiles();
                var lastUsed = files.FirstOrDefault(f => f.Name == LastUsedFile)?.LastWriteTimeUtc ?? files.Select(f => f.LastWriteTimeUtc).DefaultIfEmpty().Max();
                entries.Add(new CacheEntryInfo(directory, Path.GetFileName(kindDirectory), files.Sum(f => f.Length), lastUsed));
            }
            catch (IOException)
            {
                // Evicted by another silo while listed.
            }
        }
        return entries;
    }

    /// <summary>Why the entry cannot be used, or null when every file is there with its size and hash.</summary>
    private string? Damage(string directory)
    {
        var manifestPath = Path.Combine(directory, ManifestFile);
        if (!File.Exists(manifestPath)) return "no manifest";
        var stamp = File.GetLastWriteTimeUtc(manifestPath);
        if (_verified.TryGetValue(directory, out var verified) && verified == stamp) return null;
        CacheManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<CacheManifest>(File.ReadAllText(manifestPath), ManifestJson);
        }
        catch (JsonException e)
        {
            return $"unreadable manifest: {e.Message}";
        }
        if (manifest?.Files is null) return "empty manifest";
        foreach (var (name, expected) in manifest.Files)
        {
            var path = Path.Combine(directory, name);
            if (!File.Exists(path)) return $"{name} is missing";
            var length = new FileInfo(path).Length;
            if (length != expected.Bytes) return $"{name} has {length} bytes, not {expected.Bytes}";
            if (HashFile(path) != expected.Sha256) return $"{name} does not match its checksum";
        }
        _verified[directory] = stamp;
        return null;
    }

    private string EntryDirectory(string kind, string key) => Path.Combine(Root, kind, key);

    private CacheLease Acquire(string directory)
    {
        _inUse.AddOrUpdate(directory, 1, (_, count) => count + 1);
        return new CacheLease(directory, () => _inUse.AddOrUpdate(directory, 0, (_, count) => count - 1));
    }

    private static CacheLease? Release(CacheLease lease)
    {
        lease.Dispose();
        return null;
    }

    private void TryDelete(string directory)
    {
        _verified.TryRemove(directory, out _);
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (IOException e)
        {
            _logger.LogDebug(e, "Could not delete cache directory {Directory}", directory);
        }
    }

    private static readonly JsonSerializerOptions ManifestJson = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}

/// <summary>An open cache entry: its directory stays until disposed, as far as this process's eviction goes.</summary>
public sealed class CacheLease(string directory, Action release) : IDisposable
{
    private int _released;

    public string Directory { get; } = directory;

    public string File(string name) => Path.Combine(Directory, name);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) release();
    }
}

public sealed record CacheEntryInfo(string Directory, string Kind, long Bytes, DateTime LastUsed);

/// <summary>What an entry holds and what it was made from (<see cref="Description"/>, for people reading the cache).</summary>
public sealed record CacheManifest(string Kind, string Key, IReadOnlyDictionary<string, string> Description,
    IReadOnlyDictionary<string, CachedFile> Files, DateTimeOffset Created);

public sealed record CachedFile(long Bytes, string Sha256);
