using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Orleans.Serialization.Serializers;
using Orleans.Storage;

namespace ExperimentGrid.Runtime.Storage;

/// <summary>
/// Grain state in files, one per grain and state name, for the single-machine grid. Each write replaces the file
/// atomically, and ETags are a version number kept in the file: a write or clear that does not carry the version
/// last stored fails with <see cref="InconsistentStateException"/>, as the PostgreSQL store does.
/// </summary>
public sealed class FileGrainStorage : IGrainStorage
{
    // "EGS2" read as a little-endian integer: marks our files and their format's generation. Generation 1 held
    // Orleans' JSON; 2 holds Orleans' binary serialization, with Core's types through the contracts' surrogates.
    internal const int Magic = 0x32534745;
    internal const int JsonGeneration = 0x31534745;

    private readonly string _directory;
    private readonly IGrainStorageSerializer _serializer;
    private readonly IActivatorProvider _activators;
    // A version check and the rename that follows must not interleave with another write of the same grain.
    // Striped rather than one lock per grain, so that memory stays bounded however many grains there are.
    private readonly SemaphoreSlim[] _stripes = [.. Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1))];

    public FileGrainStorage(string name, EmbeddedStore store, IGrainStorageSerializer serializer, IActivatorProvider activators)
    {
        _directory = Path.Combine(store.Directory, "grains", name);
        _serializer = serializer;
        _activators = activators;
    }

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        var stored = await ReadAsync(PathOf(key), key);
        grainState.ETag = stored?.ETag;
        grainState.RecordExists = stored?.Payload is not null;
        grainState.State = stored?.Payload is { } payload ? _serializer.Deserialize<T>(new BinaryData(payload)) : Create<T>();
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var payload = _serializer.Serialize(grainState.State).ToArray();
        grainState.ETag = await ReplaceAsync(Key(stateName, grainId), grainState.ETag, payload);
        grainState.RecordExists = true;
    }

    /// <summary>Keeps the file with no payload and a new version, so that a stale writer still conflicts afterwards.</summary>
    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        grainState.ETag = await ReplaceAsync(Key(stateName, grainId), grainState.ETag, payload: null);
        grainState.RecordExists = false;
        grainState.State = Create<T>();
    }

    private async Task<string?> ReplaceAsync(string key, string? expectedETag, byte[]? payload)
    {
        var path = PathOf(key);
        var stripe = _stripes[(uint)StringComparer.Ordinal.GetHashCode(key) % _stripes.Length];
        await stripe.WaitAsync();
        try
        {
            var stored = await ReadAsync(path, key);
            if (stored?.ETag != expectedETag)
            {
                throw new InconsistentStateException(
                    $"{path}: version conflict on '{key}': the store has ETag {stored?.ETag ?? "none"}, the grain wrote with {expectedETag ?? "none"}.",
                    stored?.ETag, expectedETag);
            }
            if (stored is null && payload is null) return null;
            var version = (stored?.Version ?? 0) + 1;
            System.IO.Directory.CreateDirectory(_directory);
            await EmbeddedStore.WriteAtomicallyAsync(path, Encode(key, version, payload));
            return version.ToString(CultureInfo.InvariantCulture);
        }
        finally
        {
            stripe.Release();
        }
    }

    private static async Task<Stored?> ReadAsync(string path, string key)
    {
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
            switch (reader.ReadInt32())
            {
                case Magic:
                    break;
                case JsonGeneration:
                    throw new InvalidDataException($"{path}: {EmbeddedStore.EarlierFormat}");
                default:
                    throw new InvalidDataException($"{path}: not a grain state file.");
            }
            var version = reader.ReadInt32();
            var storedKey = reader.ReadString();
            if (storedKey != key) throw new InvalidDataException($"{path}: holds the state of '{storedKey}', not of '{key}'.");
            var payload = reader.ReadBoolean() ? reader.ReadBytes(reader.ReadInt32()) : null;
            return new Stored(version, payload);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"{path}: grain state file is truncated.", e);
        }
    }

    private static byte[] Encode(string key, int version, byte[]? payload)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write(version);
            writer.Write(key);
            writer.Write(payload is not null);
            if (payload is not null)
            {
                writer.Write(payload.Length);
                writer.Write(payload);
            }
        }
        return buffer.ToArray();
    }

    private static string Key(string stateName, GrainId grainId) => $"{stateName}/{grainId}";

    // Grain ids may hold any character, and a file name may not; a hash of the key is always a valid name, and the
    // key itself is kept inside the file.
    private string PathOf(string key) => Path.Combine(_directory, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))) + ".state");

    private T Create<T>() => _activators.GetActivator<T>().Create();

    private sealed record Stored(int Version, byte[]? Payload)
    {
        public string ETag => Version.ToString(CultureInfo.InvariantCulture);
    }
}
