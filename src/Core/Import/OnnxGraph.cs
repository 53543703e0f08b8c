using Google.Protobuf;

namespace ExperimentGrid.Core.Import;

/// <summary>A float initializer of an ONNX graph, row-major.</summary>
public sealed record OnnxTensor(string Name, long[] Dims, float[] Data);

/// <summary>One ONNX node: its operator and the value names it reads and writes.</summary>
public sealed record OnnxNode(string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs);

/// <summary>
/// The parts of an ONNX model that weight import needs: float initializers and the node list.
/// Reads the protobuf wire format directly with Google.Protobuf's <see cref="CodedInputStream"/>, so no generated
/// onnx.proto classes are needed; field numbers are those of onnx.proto (ModelProto.graph = 7,
/// GraphProto.node = 1, GraphProto.initializer = 5, TensorProto.dims = 1, data_type = 2, float_data = 4,
/// name = 8, raw_data = 9).
/// </summary>
public sealed class OnnxGraph
{
    private const int TensorFloat = 1;

    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }
    public IReadOnlyList<OnnxNode> Nodes { get; }

    private OnnxGraph(Dictionary<string, OnnxTensor> initializers, List<OnnxNode> nodes)
    {
        Initializers = initializers;
        Nodes = nodes;
    }

    public static OnnxGraph Read(Stream modelStream, string sourceName)
    {
        try
        {
            var model = new CodedInputStream(modelStream) { };
            ByteString? graphBytes = null;
            uint tag;
            while ((tag = model.ReadTag()) != 0)
            {
                if (WireFormat.GetTagFieldNumber(tag) == 7) graphBytes = model.ReadBytes();
                else model.SkipLastField();
            }
            if (graphBytes is null) throw new InvalidDataException($"{sourceName}: ONNX model has no graph.");
            return ReadGraph(graphBytes.CreateCodedInput(), sourceName);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{sourceName}: not a readable ONNX model ({e.Message}).", e);
        }
    }

    private static OnnxGraph ReadGraph(CodedInputStream graph, string sourceName)
    {
        var initializers = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        var nodes = new List<OnnxNode>();
        uint tag;
        while ((tag = graph.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1:
                    nodes.Add(ReadNode(graph.ReadBytes().CreateCodedInput()));
                    break;
                case 5:
                    var tensor = ReadTensor(graph.ReadBytes().CreateCodedInput(), sourceName);
                    if (tensor is not null) initializers[tensor.Name] = tensor;
                    break;
                default:
                    graph.SkipLastField();
                    break;
            }
        }
        return new OnnxGraph(initializers, nodes);
    }

    private static OnnxNode ReadNode(CodedInputStream node)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        var opType = "";
        uint tag;
        while ((tag = node.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: inputs.Add(node.ReadString()); break;
                case 2: outputs.Add(node.ReadString()); break;
                case 4: opType = node.ReadString(); break;
                default: node.SkipLastField(); break;
            }
        }
        return new OnnxNode(opType, inputs, outputs);
    }

    /// <summary>Returns null for non-float initializers (shape constants and the like), which import never needs.</summary>
    private static OnnxTensor? ReadTensor(CodedInputStream tensor, string sourceName)
    {
        var dims = new List<long>();
        var dataType = 0;
        var name = "";
        ByteString? raw = null;
        var floats = new List<float>();
        uint tag;
        while ((tag = tensor.ReadTag()) != 0)
        {
            var field = WireFormat.GetTagFieldNumber(tag);
            var packed = WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited;
            switch (field)
            {
                case 1 when packed:
                    var dimStream = tensor.ReadBytes().CreateCodedInput();
                    while (!dimStream.IsAtEnd) dims.Add(dimStream.ReadInt64());
                    break;
                case 1: dims.Add(tensor.ReadInt64()); break;
                case 2: dataType = tensor.ReadInt32(); break;
                case 4 when packed:
                    var floatStream = tensor.ReadBytes().CreateCodedInput();
                    while (!floatStream.IsAtEnd) floats.Add(floatStream.ReadFloat());
                    break;
                case 4: floats.Add(tensor.ReadFloat()); break;
                case 8: name = tensor.ReadString(); break;
                case 9: raw = tensor.ReadBytes(); break;
                case 13:
                    throw new InvalidDataException($"{sourceName}: initializer '{name}' uses external data, which import does not follow.");
                default: tensor.SkipLastField(); break;
            }
        }
        if (dataType != TensorFloat) return null;

        float[] data;
        if (raw is not null)
        {
            data = new float[raw.Length / sizeof(float)];
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw_data is little-endian.");
            raw.Span.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
        }
        else
        {
            data = [.. floats];
        }
        var expected = dims.Aggregate(1L, (a, b) => a * b);
        if (expected != data.Length)
            throw new InvalidDataException($"{sourceName}: initializer '{name}' has {data.Length} values for shape [{string.Join(", ", dims)}].");
        return new OnnxTensor(name, [.. dims], data);
    }
}
