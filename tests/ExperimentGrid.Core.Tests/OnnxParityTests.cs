using ExperimentGrid.Core.Import;
using ExperimentGrid.Core.Modeling;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

/// <summary>The imported encoder against ONNX Runtime running the package's original graph on the same token ids.</summary>
[Collection(ModelCollection.Name)]
public sealed class OnnxParityTests(ModelFixture models)
{
    private static readonly string[] Texts =
    [
        "the rock is destined to be the 21st century's new \" conan \" and that he's going to make a splash even greater than arnold schwarzenegger .",
        "Short one.",
        "A brisk, funny, deeply felt portrait of Tokyo street life.",
    ];

    [Theory]
    [InlineData("minilm")]
    [InlineData("arctic-xs")]
    public void Last_hidden_state_matches_onnx_runtime_within_1e4(string name)
    {
        var directory = models.Open(name);
        var encoded = Texts.Select(t => directory.Tokenizer.Encode(t, 128)).ToArray();
        var width = encoded.Max(e => e.Length);
        var ids = new long[Texts.Length * width];
        var mask = new long[Texts.Length * width];
        for (var b = 0; b < encoded.Length; b++)
            for (var t = 0; t < encoded[b].Length; t++)
            {
                ids[b * width + t] = encoded[b][t];
                mask[b * width + t] = 1;
            }
        var types = new long[ids.Length];

        var bundled = BundledModels.Find(name)!;
        using var session = new InferenceSession(BundledModels.ReadOnnx(bundled));
        var shape = new[] { Texts.Length, width };
        using var results = session.Run(
        [
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, shape)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, shape)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(types, shape)),
        ]);
        var reference = results.First(r => r.Name == "last_hidden_state").AsTensor<float>().ToArray();

        using var model = directory.LoadEncoder(addPoolingLayer: bundled.HasPooler);
        model.eval();
        using var noGrad = no_grad();
        using var output = model.call(tensor(ids, Texts.Length, width), tensor(mask, Texts.Length, width), tensor(types, Texts.Length, width));
        var ours = output.data<float>().ToArray();

        Assert.Equal(reference.Length, ours.Length);
        // Real tokens only: hidden states at padded positions are never read, and our encoder does not compute them.
        var hidden = reference.Length / mask.Length;
        var maxDifference = Enumerable.Range(0, reference.Length).Where(i => mask[i / hidden] == 1).Max(i => Math.Abs(reference[i] - ours[i]));
        Assert.True(maxDifference <= 1e-4, $"max |difference| {maxDifference:E3} exceeds 1e-4");
        Assert.True(reference.Select(Math.Abs).Max() > 0.1f, "reference output is degenerate");
    }
}
