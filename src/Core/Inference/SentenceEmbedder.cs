using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Tokenization;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Inference;

/// <summary>
/// Sentence embeddings by the sentence-transformers convention for all-MiniLM-L6-v2: the mean of the last hidden
/// states over real (unpadded) tokens, L2-normalised.
/// </summary>
public sealed class SentenceEmbedder : IDisposable
{
    private readonly SentenceEncoder _encoder;
    private readonly TextTokenizer _tokenizer;
    private readonly Device _device;
    private readonly int _maxLength;

    private SentenceEmbedder(SentenceEncoder encoder, TextTokenizer tokenizer, Device device, int maxLength) =>
        (_encoder, _tokenizer, _device, _maxLength) = (encoder, tokenizer, device, maxLength);

    public int Dimension => _encoder.Dimension;

    /// <param name="maxLength">all-MiniLM-L6-v2 was trained with 256-token inputs; sentence-transformers truncates there.</param>
    public static SentenceEmbedder Load(string model, string device = "auto", int maxLength = 256, ILogger? logger = null)
    {
        var directory = ModelSource.Open(model, logger);
        var resolved = Devices.Resolve(device);
        var encoder = directory.LoadModel(c => new SentenceEncoder(c), logger);
        encoder.to(resolved);
        encoder.eval();
        return new SentenceEmbedder(encoder, directory.Tokenizer, resolved, Math.Min(maxLength, directory.Config.MaxPositionEmbeddings));
    }

    public float[][] Embed(IReadOnlyList<string> texts, int batchSize = 64)
    {
        var encoded = texts.Select(t => new EncodedExample(_tokenizer.Encode(t, _maxLength), 0)).ToList();
        var embeddings = new float[texts.Count][];
        using var noGrad = no_grad();
        foreach (var indices in Batching.LengthSortedBatches(encoded, e => e.Ids.Length, batchSize))
        {
            using var scope = NewDisposeScope();
            using var batch = Batching.Collate([.. indices.Select(i => encoded[i])], _tokenizer.PadId, _device);
            var rows = _encoder.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds).cpu().data<float>().ToArray();
            for (var k = 0; k < indices.Length; k++) embeddings[indices[k]] = rows[(k * Dimension)..((k + 1) * Dimension)];
        }
        return embeddings;
    }

    public void Dispose() => _encoder.Dispose();
}
