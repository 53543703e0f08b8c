using System.Buffers.Binary;
using System.Text;
using ExperimentGrid.Core.Modeling;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

public sealed class SafetensorsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("safetensors-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Round_trip_keeps_names_shapes_and_values_bit_for_bit()
    {
        var path = Path.Combine(_directory, "model.safetensors");
        using var weight = randn(3, 5);
        using var ids = tensor(new long[] { 7, -1, long.MaxValue });
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["b.weight"] = weight, ["a.ids"] = ids });

        var loaded = Safetensors.Load(path);
        Assert.Equal(["a.ids", "b.weight"], loaded.Keys.Order());
        Assert.Equal([3L, 5L], loaded["b.weight"].shape);
        Assert.Equal(weight.data<float>().ToArray(), loaded["b.weight"].data<float>().ToArray());
        Assert.Equal(new long[] { 7, -1, long.MaxValue }, loaded["a.ids"].data<long>().ToArray());
    }

    [Fact]
    public void Reads_a_hand_built_file_with_half_precision_tensors()
    {
        // Built by hand from the format description: bf16 0x3F80 is 1.0 and 0xC000 is -2.0; f16 0x3C00 is 1.0 and 0x3800 is 0.5.
        var header = """{"h":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"__metadata__":{"format":"pt"}}""";
        var data = new byte[] { 0x80, 0x3F, 0x00, 0xC0, 0x00, 0x3C, 0x00, 0x38 };
        var path = WriteRaw(header, data);

        var loaded = Safetensors.Load(path);
        Assert.Equal(new[] { 1.0f, -2.0f }, loaded["b"].data<float>().ToArray());
        Assert.Equal(new[] { 1.0f, 0.5f }, loaded["h"].data<float>().ToArray());
    }

    [Fact]
    public void Header_is_padded_to_eight_bytes_as_the_reference_writer_does()
    {
        var path = Path.Combine(_directory, "padded.safetensors");
        using var value = ones(1);
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["x"] = value });
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(0, BinaryPrimitives.ReadInt64LittleEndian(bytes) % 8);
    }

    [Theory]
    [InlineData("""{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", "data_offsets outside")]
    [InlineData("""{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", "needs 12 bytes")]
    [InlineData("""{"x":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}""", "unsupported dtype C64")]
    [InlineData("""{"x": nope}""", "not valid JSON")]
    public void Corrupt_files_are_rejected_with_the_file_and_the_problem(string header, string expected)
    {
        var path = WriteRaw(header, new byte[8]);
        var error = Assert.Throws<InvalidDataException>(() => Safetensors.Load(path));
        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_header_length_beyond_the_file_is_rejected()
    {
        var path = Path.Combine(_directory, "short.safetensors");
        var bytes = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, 1_000);
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<InvalidDataException>(() => Safetensors.Load(path));
        Assert.Contains("header length 1000", error.Message);
    }

    private string WriteRaw(string header, byte[] data)
    {
        var path = Path.Combine(_directory, $"{Guid.NewGuid():N}.safetensors");
        var headerBytes = Encoding.UTF8.GetBytes(header);
        using var stream = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, headerBytes.Length);
        stream.Write(length);
        stream.Write(headerBytes);
        stream.Write(data);
        return path;
    }
}
