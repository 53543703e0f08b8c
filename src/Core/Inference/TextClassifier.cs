using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.SetFit;
using ExperimentGrid.Core.Tokenization;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Inference;

public sealed record LabelScore(string Label, double Probability);

/// <param name="Logits">The raw class scores, in label order: what transformers' model(...).logits gives for the same text.</param>
public sealed record Prediction(string Text, string Label, IReadOnlyList<LabelScore> Scores, IReadOnlyList<float> Logits);

/// <summary>
/// Serves a saved classifier, label and class probabilities per text: a BertForSequenceClassification directory, or a
/// SetFit directory (sentence encoder plus logistic-regression head, recognised by its config_setfit.json).
/// </summary>
public sealed class TextClassifier : IDisposable
{
    private readonly nn.Module _model;
    private readonly Func<Batch, Tensor> _logits;
    private readonly TextTokenizer _tokenizer;
    private readonly IReadOnlyList<string> _labels;
    private readonly Device _device;
    private readonly int _maxLength;

    private TextClassifier(nn.Module model, Func<Batch, Tensor> logits, TextTokenizer tokenizer, IReadOnlyList<string> labels, Device device, int maxLength)
    {
        (_model, _logits, _tokenizer, _labels, _device, _maxLength) = (model, logits, tokenizer, labels, device, maxLength);
    }

    public static TextClassifier Load(string model, string device = "auto", int maxLength = 512, ILogger? logger = null)
    {
        var directory = ModelSource.Open(model, logger);
        var labels = directory.Config.Labels;
        if (labels.Count < 2)
            throw new InvalidDataException($"{directory.Path}: config.json has no id2label; it is not a trained classifier (train one with `grid train`).");
        var resolved = Devices.Resolve(device);
        var limit = Math.Min(maxLength, directory.Config.MaxPositionEmbeddings);
        var headPath = Path.Combine(directory.Path, SetFitTrainable.HeadFile);
        if (File.Exists(Path.Combine(directory.Path, SetFitTrainable.SetFitConfigFile)))
        {
            var head = LogisticRegression.Load(headPath);
            if (head.Classes != labels.Count)
                throw new InvalidDataException($"{headPath}: the head has {head.Classes} classes, config.json's id2label {labels.Count}.");
            var encoder = directory.LoadModel(c => new SentenceEncoder(c), logger);
            if (head.Features != encoder.Dimension)
                throw new InvalidDataException($"{headPath}: the head takes {head.Features} features, the encoder gives {encoder.Dimension}.");
            encoder.to(resolved);
            encoder.eval();
            return new TextClassifier(encoder, b => head.Logits(encoder.call(b.InputIds, b.AttentionMask, b.TokenTypeIds)), directory.Tokenizer, labels, resolved, limit);
        }
        var classifier = directory.LoadModel(c => new BertForSequenceClassification(c, labels.Count), logger);
        classifier.to(resolved);
        classifier.eval();
        return new TextClassifier(classifier, b => classifier.call(b.InputIds, b.AttentionMask, b.TokenTypeIds), directory.Tokenizer, labels, resolved, limit);
    }

    public IReadOnlyList<Prediction> Predict(IReadOnlyList<string> texts, int batchSize = 64)
    {
        var encoded = texts.Select(t => new EncodedExample(_tokenizer.Encode(t, _maxLength), 0)).ToList();
        var predictions = new Prediction[texts.Count];
        using var noGrad = no_grad();
        foreach (var indices in Batching.LengthSortedBatches(encoded, e => e.Ids.Length, batchSize))
        {
            using var scope = NewDisposeScope();
            using var batch = Batching.Collate([.. indices.Select(i => encoded[i])], _tokenizer.PadId, _device);
            var logits = _logits(batch).to_type(ScalarType.Float32);
            var probabilities = logits.softmax(1).cpu().data<float>().ToArray();
            var raw = logits.cpu().data<float>().ToArray();
            var classes = _labels.Count;
            for (var k = 0; k < indices.Length; k++)
            {
                var scores = _labels.Select((label, c) => new LabelScore(label, probabilities[k * classes + c])).ToList();
                var best = scores.MaxBy(s => s.Probability)!;
                predictions[indices[k]] = new Prediction(texts[indices[k]], best.Label, scores, raw[(k * classes)..((k + 1) * classes)]);
            }
        }
        return predictions;
    }

    public void Dispose() => _model.Dispose();
}
