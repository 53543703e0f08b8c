using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Tokenization;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Inference;

/// <summary>An entity found in a text: its type, the covered text, the mean piece score and character offsets [Start, End).</summary>
public sealed record RecognizedEntity(string Type, string Text, double Score, int Start, int End);

/// <summary>One word piece's prediction with the characters it covers.</summary>
public readonly record struct PiecePrediction(string Label, double Score, int Start, int End);

/// <summary>Serves a saved token classifier like transformers' token-classification pipeline with aggregation_strategy="simple".</summary>
public sealed class EntityRecognizer : IDisposable
{
    private readonly BertForTokenClassification _model;
    private readonly TextTokenizer _tokenizer;
    private readonly IReadOnlyList<string> _labels;
    private readonly Device _device;
    private readonly int _maxLength;

    private EntityRecognizer(BertForTokenClassification model, TextTokenizer tokenizer, IReadOnlyList<string> labels, Device device, int maxLength) =>
        (_model, _tokenizer, _labels, _device, _maxLength) = (model, tokenizer, labels, device, maxLength);

    public static EntityRecognizer Load(string model, string device = "auto", int maxLength = 512, ILogger? logger = null)
    {
        var directory = ModelSource.Open(model, logger);
        var labels = directory.Config.Labels;
        if (labels.Count < 2 || !labels.Contains("O"))
            throw new InvalidDataException($"{directory.Path}: config.json has no IOB2 id2label; it is not a trained token classifier (train one with `grid train --task token-classification`).");
        var resolved = Devices.Resolve(device);
        var tagger = directory.LoadModel(c => new BertForTokenClassification(c, labels.Count), logger);
        tagger.to(resolved);
        tagger.eval();
        return new EntityRecognizer(tagger, directory.Tokenizer, labels, resolved, Math.Min(maxLength, directory.Config.MaxPositionEmbeddings));
    }

    public IReadOnlyList<RecognizedEntity> Recognize(string text)
    {
        var pieces = new List<(int Id, int Start, int End)>();
        foreach (var (start, end) in Words(text))
        {
            var cursor = start;
            foreach (var id in _tokenizer.EncodeWord(text[start..end]))
            {
                var token = _tokenizer.TokenOf(id);
                var length = id == _tokenizer.UnknownId ? end - start : token.StartsWith("##", StringComparison.Ordinal) ? token.Length - 2 : token.Length;
                var pieceEnd = Math.Min(end, cursor + length);
                pieces.Add((id, cursor, pieceEnd));
                cursor = pieceEnd;
            }
        }
        if (pieces.Count > _maxLength - 2) pieces.RemoveRange(_maxLength - 2, pieces.Count - (_maxLength - 2));
        if (pieces.Count == 0) return [];

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var ids = tensor(pieces.Select(p => (long)p.Id).Prepend(_tokenizer.ClsId).Append(_tokenizer.SepId).ToArray()).unsqueeze(0).to(_device);
        var probabilities = _model.call(ids, ones_like(ids), zeros_like(ids)).softmax(-1).squeeze(0).cpu();
        var best = probabilities.max(-1);
        var scores = best.values.data<float>().ToArray();
        var labels = best.indexes.data<long>().ToArray();
        var predictions = pieces.Select((p, i) => new PiecePrediction(_labels[(int)labels[i + 1]], scores[i + 1], p.Start, p.End)).ToList();
        return Aggregate(text, predictions);
    }

    /// <summary>
    /// transformers' "simple" aggregation: O pieces are dropped; a piece joins the current entity when it has the same
    /// type and is not a B- tag, otherwise it starts a new one. An entity's score is the mean of its pieces' scores.
    /// </summary>
    public static IReadOnlyList<RecognizedEntity> Aggregate(string text, IReadOnlyList<PiecePrediction> pieces)
    {
        var entities = new List<RecognizedEntity>();
        var group = new List<PiecePrediction>();
        string? groupType = null;
        void Close()
        {
            if (group.Count == 0) return;
            var (start, end) = (group[0].Start, group[^1].End);
            entities.Add(new RecognizedEntity(groupType!, text[start..end], group.Average(p => p.Score), start, end));
            group.Clear();
        }
        foreach (var piece in pieces)
        {
            if (piece.Label == "O")
            {
                Close();
                groupType = null;
                continue;
            }
            var type = piece.Label.Length > 2 && piece.Label[1] == '-' ? piece.Label[2..] : piece.Label;
            if (piece.Label.StartsWith("B-", StringComparison.Ordinal) || type != groupType) Close();
            groupType = type;
            group.Add(piece);
        }
        Close();
        return entities;
    }

    /// <summary>BERT's basic word split with character offsets: whitespace separates words, punctuation stands alone.</summary>
    public static IEnumerable<(int Start, int End)> Words(string text)
    {
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var boundary = i == text.Length || char.IsWhiteSpace(text[i]) || IsPunctuation(text[i]);
            if (boundary && start >= 0)
            {
                yield return (start, i);
                start = -1;
            }
            if (i < text.Length && IsPunctuation(text[i])) yield return (i, i + 1);
            else if (!boundary && start < 0) start = i;
        }
    }

    private static bool IsPunctuation(char c) =>
        c is >= '!' and <= '/' or >= ':' and <= '@' or >= '[' and <= '`' or >= '{' and <= '~' || char.IsPunctuation(c);

    public void Dispose() => _model.Dispose();
}
