using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Caching;

/// <summary>
/// A cache entry's per-example rows: example i owns rows [Start(i), Start(i) + Length(i)) of a [rows, width] matrix,
/// stored as raw little-endian values (activations.bin) beside the table of (start, length) pairs (rows.bin). The
/// examples may be written in any order (length-sorted batches) and are read by index. The matrix is memory-mapped:
/// a trial reads the rows of its batch, the page cache shares the file between the trials of a machine.
/// </summary>
public sealed class PackedRows : IDisposable
{
    public const string ValuesFile = "activations.bin";
    public const string TableFile = "rows.bin";

    private readonly long[] _table;
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;

    private PackedRows(long[] table, int width, MemoryMappedFile? file, MemoryMappedViewAccessor? view) =>
        (_table, Width, _file, _view) = (table, width, file, view);

    public int Width { get; }
    public int Count => _table.Length / 2;
    public long Start(int example) => _table[2 * example];
    public int Length(int example) => (int)_table[2 * example + 1];

    public static PackedRows Open(string directory, int width)
    {
        var table = MemoryMarshal.Cast<byte, long>(File.ReadAllBytes(Path.Combine(directory, TableFile))).ToArray();
        var path = Path.Combine(directory, ValuesFile);
        var bytes = new FileInfo(path).Length;
        var rows = table.Length == 0 ? 0 : Enumerable.Range(0, table.Length / 2).Max(i => table[2 * i] + table[2 * i + 1]);
        if (rows * width * sizeof(float) != bytes)
            throw new InvalidDataException($"{path}: {bytes} bytes, where its table of {table.Length / 2} examples needs {rows * width * sizeof(float)}");
        // An empty file cannot be mapped, and an entry whose examples have no rows reads nothing from it.
        if (bytes == 0) return new PackedRows(table, width, null, null);
        var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        return new PackedRows(table, width, file, file.CreateViewAccessor(0, bytes, MemoryMappedFileAccess.Read));
    }

    /// <summary>The rows of <paramref name="examples"/>, one after the other, as [their rows, width] on the CPU.</summary>
    public Tensor Gather(IReadOnlyList<int> examples)
    {
        var total = examples.Sum(Length);
        var values = new float[total * Width];
        var at = 0;
        foreach (var example in examples)
        {
            var count = Length(example) * Width;
            _view!.ReadArray(Start(example) * Width * sizeof(float), values, at, count);
            at += count;
        }
        return tensor(values, total, Width);
    }

    public void Dispose()
    {
        _view?.Dispose();
        _file?.Dispose();
    }

    /// <summary>Writes an entry's files; every example must be written exactly once before <see cref="Finish"/>.</summary>
    public sealed class Writer : IDisposable
    {
        private readonly FileStream _values;
        private readonly long[] _table;
        private readonly bool[] _written;
        private readonly string _directory;
        private readonly int _width;
        private long _rows;

        public Writer(string directory, int examples, int width)
        {
            _directory = directory;
            _width = width;
            _table = new long[2 * examples];
            _written = new bool[examples];
            _values = new FileStream(Path.Combine(directory, ValuesFile), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        }

        /// <summary>Appends <paramref name="rows"/> ([length × width] values, row-major) as the rows of <paramref name="example"/>.</summary>
        public void Add(int example, ReadOnlySpan<float> rows)
        {
            if (_written[example]) throw new InvalidOperationException($"example {example} was written twice");
            if (rows.Length % _width != 0) throw new ArgumentException($"{rows.Length} values are not whole rows of {_width}", nameof(rows));
            _written[example] = true;
            _table[2 * example] = _rows;
            _table[2 * example + 1] = rows.Length / _width;
            _values.Write(MemoryMarshal.AsBytes(rows));
            _rows += rows.Length / _width;
        }

        public void Finish()
        {
            if (Array.IndexOf(_written, false) is var missing and >= 0) throw new InvalidOperationException($"example {missing} was never written");
            // No fsync: a file the machine lost before the page cache reached the disk fails its checksum on the next
            // open and is rebuilt, so durability would buy nothing but seconds per entry.
            _values.Flush();
            File.WriteAllBytes(Path.Combine(_directory, TableFile), MemoryMarshal.AsBytes(_table.AsSpan()).ToArray());
        }

        public void Dispose() => _values.Dispose();
    }
}
