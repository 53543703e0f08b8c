using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Modeling;

/// <summary>
/// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor name to its
/// dtype, shape and byte range, then the raw little-endian data. No code runs on load, unlike a pickle checkpoint.
/// </summary>
public static class Safetensors
{
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>Reads every tensor as float32 (F16 and BF16 are widened) or int64, on the CPU.</summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: weights file not found.", path);
        using var stream = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        if (stream.Read(lengthBytes) != 8) throw Corrupt(path, "shorter than its 8-byte header length");
        var headerLength = BinaryPrimitives.ReadInt64LittleEndian(lengthBytes);
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || headerLength > stream.Length - 8)
            throw Corrupt(path, $"header length {headerLength} does not fit a {stream.Length}-byte file");

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        JsonObject header;
        try
        {
            header = JsonNode.Parse(headerBytes)?.AsObject() ?? throw Corrupt(path, "empty header");
        }
        catch (JsonException e)
        {
            throw Corrupt(path, $"header is not valid JSON ({e.Message})");
        }

        var dataStart = 8 + headerLength;
        var dataLength = stream.Length - dataStart;
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, node) in header)
            {
                if (name == "__metadata__") continue;
                var (dtype, shape, offsets) = Entry(path, name, node);
                if (offsets is not { Length: 2 } || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
                    throw Corrupt(path, $"tensor '{name}' has data_offsets outside the {dataLength}-byte data section");
                var count = shape.Aggregate(1L, (a, b) => a * b);
                var width = ElementSize(dtype) ?? throw Corrupt(path, $"tensor '{name}' has unsupported dtype {dtype}");
                if (count * width != offsets[1] - offsets[0])
                    throw Corrupt(path, $"tensor '{name}' shape [{string.Join(", ", shape)}] needs {count * width} bytes, entry spans {offsets[1] - offsets[0]}");

                var raw = new byte[offsets[1] - offsets[0]];
                stream.Position = dataStart + offsets[0];
                stream.ReadExactly(raw);
                tensors[name] = Decode(raw, dtype, shape);
            }
        }
        catch
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
            throw;
        }
        return tensors;
    }

    /// <summary>Writes float32 and int64 tensors, names sorted, header padded to 8 bytes as the reference writer does.</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        // The detached and CPU copies Encode makes stay in this scope until the file is written: a tensor outside any
        // scope is the garbage collector's to free, and TorchSharp lets it go while libtorch still reads it.
        using var scope = NewDisposeScope();
        var ordered = tensors.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new JsonObject(metadata.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));
        var payloads = new List<byte[]>(ordered.Count);
        long offset = 0;
        foreach (var (name, tensor) in ordered)
        {
            var (dtype, bytes) = Encode(name, tensor);
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray([.. tensor.shape.Select(d => (JsonNode?)d)]),
                ["data_offsets"] = new JsonArray(offset, offset + bytes.Length),
            };
            offset += bytes.Length;
            payloads.Add(bytes);
        }
        var headerText = header.ToJsonString();
        var padding = (8 - headerText.Length % 8) % 8;
        var headerBytes = System.Text.Encoding.UTF8.GetBytes(headerText + new string(' ', padding));

        var temporary = path + ".partial";
        using (var stream = File.Create(temporary))
        {
            Span<byte> lengthBytes = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(lengthBytes, headerBytes.Length);
            stream.Write(lengthBytes);
            stream.Write(headerBytes);
            foreach (var payload in payloads) stream.Write(payload);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>A header entry's fields; a value of the wrong JSON type (a number for the dtype, say) names the tensor.</summary>
    private static (string Dtype, long[] Shape, long[]? Offsets) Entry(string path, string name, JsonNode? node)
    {
        try
        {
            var entry = node?.AsObject() ?? throw Corrupt(path, $"tensor '{name}' has no entry");
            var dtype = entry["dtype"]?.GetValue<string>() ?? throw Corrupt(path, $"tensor '{name}' has no dtype");
            var shape = entry["shape"]?.AsArray().Select(d => d!.GetValue<long>()).ToArray() ?? throw Corrupt(path, $"tensor '{name}' has no shape");
            var offsets = entry["data_offsets"]?.AsArray().Select(d => d!.GetValue<long>()).ToArray();
            return (dtype, shape, offsets);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw Corrupt(path, $"tensor '{name}' has a malformed entry ({e.Message})");
        }
    }

    private static int? ElementSize(string dtype) => dtype switch
    {
        "F32" or "I32" => 4,
        "F16" or "BF16" => 2,
        "I64" or "F64" => 8,
        "BOOL" or "U8" or "I8" => 1,
        _ => null,
    };

    private static Tensor Decode(byte[] raw, string dtype, long[] shape)
    {
        switch (dtype)
        {
            case "F32":
                return tensor(MemoryMarshal.Cast<byte, float>(raw).ToArray(), shape);
            case "F64":
                return tensor(MemoryMarshal.Cast<byte, double>(raw).ToArray().Select(v => (float)v).ToArray(), shape);
            case "F16":
                return tensor(MemoryMarshal.Cast<byte, Half>(raw).ToArray().Select(v => (float)v).ToArray(), shape);
            case "BF16":
                var widened = MemoryMarshal.Cast<byte, ushort>(raw).ToArray().Select(v => BitConverter.Int32BitsToSingle(v << 16)).ToArray();
                return tensor(widened, shape);
            case "I64":
                return tensor(MemoryMarshal.Cast<byte, long>(raw).ToArray(), shape);
            case "I32":
                return tensor(MemoryMarshal.Cast<byte, int>(raw).ToArray().Select(v => (long)v).ToArray(), shape);
            default:
                return tensor(raw.Select(v => (long)v).ToArray(), shape);
        }
    }

    private static (string Dtype, byte[] Bytes) Encode(string name, Tensor value)
    {
        using var cpu = value.detach().cpu().contiguous();
        return cpu.dtype switch
        {
            ScalarType.Float32 => ("F32", MemoryMarshal.AsBytes(cpu.data<float>().ToArray().AsSpan()).ToArray()),
            ScalarType.Int64 => ("I64", MemoryMarshal.AsBytes(cpu.data<long>().ToArray().AsSpan()).ToArray()),
            _ => throw new NotSupportedException($"tensor '{name}' has dtype {cpu.dtype}; only float32 and int64 are written."),
        };
    }

    private static InvalidDataException Corrupt(string path, string what) => new($"{path}: not a valid safetensors file: {what}.");
}
