using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Tokenization;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Inference;

/// <summary>A candidate for the [MASK]: the token, its probability, and the text with the [MASK] replaced by it.</summary>
public sealed record FilledMask(string Token, int TokenId, double Score, string Sequence);

/// <summary>transformers' fill-mask pipeline: the most probable tokens for the one [MASK] in a text.</summary>
public sealed class FillMask : IDisposable
{
    public const string MaskToken = "[MASK]";

    private readonly BertForMaskedLM _model;
    private readonly TextTokenizer _tokenizer;
    private readonly Device _device;
    private readonly int _maxLength;

    private FillMask(BertForMaskedLM model, TextTokenizer tokenizer, Device device, int maxLength) =>
        (_model, _tokenizer, _device, _maxLength) = (model, tokenizer, device, maxLength);

    /// <summary>
    /// Loads any BERT directory or bundled model; a checkpoint without masked-LM weights gets a fresh head (logged),
    /// whose predictions mean nothing until it is trained.
    /// </summary>
    public static FillMask Load(string model, string device = "auto", int maxLength = 512, ILogger? logger = null)
    {
        var directory = ModelSource.Open(model, logger);
        var resolved = Devices.Resolve(device);
        var masked = directory.LoadModel(c => new BertForMaskedLM(c), logger);
        masked.to(resolved);
        masked.eval();
        return new FillMask(masked, directory.Tokenizer, resolved, Math.Min(maxLength, directory.Config.MaxPositionEmbeddings));
    }

    /// <returns>Up to <paramref name="topK"/> candidates, most probable first.</returns>
    public IReadOnlyList<FilledMask> Predict(string text, int topK = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        var marks = CountMasks(text);
        if (marks != 1)
            throw new ArgumentException($"fill-mask needs exactly one {MaskToken} in the text, found {marks}: \"{text}\".", nameof(text));
        var ids = _tokenizer.Encode(text, _maxLength);
        var position = Array.IndexOf(ids, _tokenizer.MaskId);
        if (position < 0)
            throw new ArgumentException($"the {MaskToken} lies beyond the first {_maxLength} tokens and was truncated away: \"{text}\".", nameof(text));

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var input = tensor(ids.Select(id => (long)id).ToArray(), 1, ids.Length).to(_device);
        var logits = _model.LogitsAt(input, ones_like(input), zeros_like(input), tensor(new long[] { position }).to(_device));
        var (scores, tokens) = logits[0].softmax(0).topk((int)Math.Min(topK, logits.shape[1]));
        var probabilities = scores.cpu().data<float>().ToArray();
        var tokenIds = tokens.cpu().data<long>().ToArray();
        return [.. tokenIds.Select((id, k) =>
        {
            var token = _tokenizer.TokenOf((int)id);
            var word = token.StartsWith("##", StringComparison.Ordinal) ? token[2..] : token;
            return new FilledMask(token, (int)id, probabilities[k], text.Replace(MaskToken, word, StringComparison.Ordinal));
        })];
    }

    private static int CountMasks(string text)
    {
        var count = 0;
        for (var at = text.IndexOf(MaskToken, StringComparison.Ordinal); at >= 0; at = text.IndexOf(MaskToken, at + MaskToken.Length, StringComparison.Ordinal))
            count++;
        return count;
    }

    public void Dispose() => _model.Dispose();
}
