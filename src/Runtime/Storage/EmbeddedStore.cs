using Microsoft.Extensions.Hosting;

namespace ExperimentGrid.Runtime.Storage;

/// <summary>
/// The directory that holds a single-machine silo's grain state and reminders, so that they survive a restart without
/// a database server. The silo holds an exclusive lock on the directory from start-up until it is disposed: the
/// stores check ETags in memory, which protects the files only while one silo writes them.
/// </summary>
public sealed class EmbeddedStore(string directory) : IHostedLifecycleService, IDisposable
{
    private const string LockFile = ".lock";

    private FileStream? _lock;

    public string Directory { get; } = Path.GetFullPath(directory);

    /// <summary>Opens the directory before Orleans starts, so that a second silo on it fails at once, naming it.</summary>
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{Directory}: cannot create the state directory: {e.Message}", e);
        }
        RefuseEarlierFormat();
        try
        {
            // On Linux, FileShare.None takes an exclusive flock, which the kernel drops if the process dies.
            _lock = new FileStream(Path.Combine(Directory, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new IOException($"{Directory}: the state directory is in use by another silo.", e);
        }
        return Task.CompletedTask;
    }

    /// <summary>Whether a silo holds <paramref name="directory"/>'s lock now (a directory no silo has opened is not in use).</summary>
    public static bool InUse(string directory)
    {
        var path = Path.Combine(directory, LockFile);
        if (!File.Exists(path)) return false;
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>What an earlier version's grain state is, and what to do about it.</summary>
    internal const string EarlierFormat =
        "grain state written by an earlier ExperimentGrid, in Orleans' JSON, which this version does not read (it writes Orleans' binary " +
        "serialization). Nothing was changed: move the state directory aside, or start the silo with --state on a new directory.";

    /// <summary>
    /// Refuses, before Orleans starts, a directory that holds an earlier version's grain state: read as this
    /// version's, every grain would fail when first activated, the leaderboard with it, and each trial would fail in
    /// turn. Only each file's first four bytes are read.
    /// </summary>
    private void RefuseEarlierFormat()
    {
        var grains = Path.Combine(Directory, "grains");
        if (!System.IO.Directory.Exists(grains)) return;
        var earlier = System.IO.Directory.EnumerateFiles(grains, "*.state", SearchOption.AllDirectories).Where(IsEarlierFormat).ToList();
        if (earlier.Count > 0)
            throw new IOException($"{Directory}: {earlier.Count} file(s) of {EarlierFormat} (the first: {earlier[0]})");
    }

    private static bool IsEarlierFormat(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var file = File.OpenRead(path);
        return file.Read(magic) == 4 && BitConverter.ToInt32(magic) == FileGrainStorage.JsonGeneration;
    }

    /// <summary>
    /// Replaces a file so that a reader, or a restart after a crash, sees the old content or the new, never a mix:
    /// the new content goes to a temporary file beside it, is flushed to disk, and is renamed over the old one.
    /// </summary>
    public static async Task WriteAtomicallyAsync(string path, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        try
        {
            await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous))
            {
                await stream.WriteAsync(content, cancellationToken);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    public void Dispose()
    {
        _lock?.Dispose();
        _lock = null;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
