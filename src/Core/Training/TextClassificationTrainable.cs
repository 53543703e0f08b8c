using System.Diagnostics;
using System.Text.Json;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Tokenization;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Training;

/// <summary>Sequence classification (BertForSequenceClassification) with a freeze depth, as one trainable.</summary>
public sealed class TextClassificationTrainable(TrialSpec spec, ILogger? logger = null, IProgress<TrainingProgress>? progress = null) : ITrainable
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly List<LossPoint> _lossCurve = [];
    private BertForSequenceClassification? _model;
    private AdamW? _optimizer;
    private BertConfig? _config;
    private TextTokenizer? _tokenizer;
    private Device _device = CPU;
    private IReadOnlyList<EncodedExample> _train = [];
    private IReadOnlyList<EncodedExample> _eval = [];
    private int _stepsPerEpoch;

    public TrialSpec Spec { get; } = spec;
    public int Epochs => Spec.Epochs;
    public int CompletedEpochs { get; private set; }
    public int GlobalStep { get; private set; }
    public int LabelCount { get; private set; }
    public IReadOnlyList<LossPoint> LossCurve => _lossCurve;
    public string DeviceName => _device.ToString();
    public BertForSequenceClassification Model => _model ?? throw new InvalidOperationException("Setup() has not run.");
    public TextTokenizer Tokenizer => _tokenizer ?? throw new InvalidOperationException("Setup() has not run.");
    private int TotalSteps => _stepsPerEpoch * Spec.Epochs;

    public void Setup()
    {
        _device = Devices.Resolve(Spec.Device);
        var source = ModelSource.Open(Spec.Model, _logger);
        _tokenizer = source.Tokenizer;

        var trainExamples = TextClassificationData.Slice(ReadSplit(Spec.TrainSplit), Spec.TrainLimit, Spec.Seed);
        var evalExamples = TextClassificationData.Slice(ReadSplit(Spec.EvalSplit), Spec.EvalLimit, Spec.Seed);
        LabelCount = Spec.LabelNames?.Count ?? Math.Max(2, trainExamples.Max(e => e.Label) + 1);
        CheckLabels(trainExamples, Spec.TrainSplit);
        CheckLabels(evalExamples, Spec.EvalSplit);

        _config = source.Config.Clone();
        _config.SetLabels(Spec.LabelNames ?? [.. Enumerable.Range(0, LabelCount).Select(i => $"LABEL_{i}")]);
        var freeze = Spec.Freeze;
        if (freeze.Layers > _config.NumHiddenLayers)
            throw new TrialSpecException($"freeze: {freeze.Layers} exceeds the {_config.NumHiddenLayers} encoder layers of {Spec.Model}; use 'all' to train only the head.");

        // The seed fixes the new head's initialisation and every dropout mask that follows.
        random.manual_seed(Spec.Seed);
        _model = source.LoadModel(c => new BertForSequenceClassification(c, LabelCount), _logger);
        _model.Bert.SetFreeze(freeze);
        _model.to(_device);

        _train = Encode(trainExamples);
        _eval = Encode(evalExamples);
        _stepsPerEpoch = (_train.Count + Spec.BatchSize - 1) / Spec.BatchSize;
        _optimizer = Optimization.AdamW(_model, Spec.LearningRate, Spec.WeightDecay);
        _logger.LogInformation("{Train} training and {Eval} evaluation examples, {Labels} labels, freeze {Freeze}, {Trainable:N0} of {Total:N0} parameters trainable, on {Device}",
            _train.Count, _eval.Count, LabelCount, freeze, TrainableParameters, TotalParameters, _device);
    }

    public long TrainableParameters => Model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    public long TotalParameters => Model.parameters().Sum(p => p.numel());

    public EpochResult Step(CancellationToken cancellationToken = default)
    {
        var model = Model;
        var optimizer = _optimizer!;
        if (CompletedEpochs >= Spec.Epochs) throw new InvalidOperationException($"all {Spec.Epochs} epochs are done.");
        var epoch = CompletedEpochs;
        var warmup = (int)Math.Ceiling(Spec.WarmupRatio * TotalSteps);

        model.train();
        var clock = Stopwatch.StartNew();
        double lossSum = 0;
        long samples = 0, tokens = 0;
        foreach (var indices in Batching.ShuffledBatches(_train.Count, Spec.BatchSize, Spec.Seed, epoch))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var learningRate = Spec.LearningRate * Optimization.LinearScheduleFactor(GlobalStep, warmup, TotalSteps);
            optimizer.LearningRate = learningRate;
            float loss;
            long batchTokens;
            using (var batch = Batching.Collate([.. indices.Select(i => _train[i])], Tokenizer.PadId, _device))
            {
                loss = Optimization.ClassificationStep(model, optimizer, batch, Spec.MaxGradNorm);
                batchTokens = batch.Tokens;
            }
            GlobalStep++;
            if (!float.IsFinite(loss))
                throw new TrainingDivergedException($"loss became {loss} at step {GlobalStep} (epoch {epoch + 1}, learning rate {learningRate:G3}); lower learning_rate or check the data.");
            _lossCurve.Add(new LossPoint(GlobalStep, loss));
            lossSum += loss * indices.Length;
            samples += indices.Length;
            tokens += batchTokens;
            var seconds = clock.Elapsed.TotalSeconds;
            progress?.Report(new TrainingProgress(epoch + 1, Spec.Epochs, GlobalStep, TotalSteps, lossSum / samples, learningRate,
                samples / seconds, tokens / seconds, clock.Elapsed));
        }
        var trainSeconds = clock.Elapsed.TotalSeconds;
        CompletedEpochs++;
        var validation = Evaluate(_eval);
        _logger.LogInformation("epoch {Epoch}: train loss {TrainLoss:F4}, {Split} loss {EvalLoss:F4}, F1 {F1:F4}, accuracy {Accuracy:F4}",
            CompletedEpochs, lossSum / samples, Spec.EvalSplit, validation.Loss, validation.F1, validation.Accuracy);
        return new EpochResult(CompletedEpochs, GlobalStep, lossSum / samples, validation, trainSeconds, samples / trainSeconds, tokens / trainSeconds);
    }

    /// <summary>Metrics on a labelled split of the trial's dataset (the test split, say).</summary>
    public ClassificationMetrics EvaluateSplit(string split, int? limit = null)
    {
        var examples = TextClassificationData.Slice(ReadSplit(split), limit, Spec.Seed);
        CheckLabels(examples, split);
        return Evaluate(Encode(examples));
    }

    public ClassificationMetrics Evaluate(IReadOnlyList<EncodedExample> examples)
    {
        var model = Model;
        model.eval();
        var predictions = new int[examples.Count];
        double lossSum = 0;
        using (no_grad())
        {
            foreach (var indices in Batching.LengthSortedBatches(examples, Spec.EvalBatchSize))
            {
                using var scope = NewDisposeScope();
                using var batch = Batching.Collate([.. indices.Select(i => examples[i])], Tokenizer.PadId, _device);
                var logits = model.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
                lossSum += nn.functional.cross_entropy(logits, batch.Labels, reduction: nn.Reduction.Sum).item<float>();
                var predicted = logits.argmax(1).cpu().data<long>().ToArray();
                for (var k = 0; k < indices.Length; k++) predictions[indices[k]] = (int)predicted[k];
            }
        }
        return ClassificationMetrics.Compute(predictions, [.. examples.Select(e => e.Label)], LabelCount, lossSum / examples.Count);
    }

    public void SaveModel(string directory) => ModelDirectory.Save(directory, Model, _config!, Tokenizer);

    private const string WeightsFile = "trainable.safetensors";
    private const string OptimizerFile = "optimizer.safetensors";
    private const string StateFile = "trainer-state.json";

    private sealed record CheckpointState(int CompletedEpochs, int GlobalStep, int Seed, List<LossPoint> LossCurve);

    public void SaveCheckpoint(string directory)
    {
        Directory.CreateDirectory(directory);
        Safetensors.Save(Path.Combine(directory, WeightsFile), Model.state_dict().Append(
            KeyValuePair.Create("__rng_state__", random.get_rng_state().to_type(ScalarType.Int64))));
        _optimizer!.Save(Path.Combine(directory, OptimizerFile));
        File.WriteAllText(Path.Combine(directory, StateFile),
            JsonSerializer.Serialize(new CheckpointState(CompletedEpochs, GlobalStep, Spec.Seed, _lossCurve), CheckpointJson));
        _config!.Save(Path.Combine(directory, ModelDirectory.ConfigFile));
    }

    public void LoadCheckpoint(string directory)
    {
        var statePath = Path.Combine(directory, StateFile);
        if (!File.Exists(statePath)) throw new FileNotFoundException($"{directory}: not a checkpoint (no {StateFile}).");
        var state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath), CheckpointJson)
            ?? throw new InvalidDataException($"{statePath}: empty checkpoint state.");
        if (state.Seed != Spec.Seed) throw new InvalidDataException($"{statePath}: checkpoint was made with seed {state.Seed}, this trial uses {Spec.Seed}.");

        var weights = Safetensors.Load(Path.Combine(directory, WeightsFile));
        try
        {
            if (!weights.Remove("__rng_state__", out var rng)) throw new InvalidDataException($"{directory}: checkpoint has no RNG state.");
            using (rng) random.set_rng_state(rng.to_type(ScalarType.Byte));
            ModelDirectory.LoadWeights(Model, weights, directory, [], _logger);
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }
        _optimizer!.Load(Path.Combine(directory, OptimizerFile));
        CompletedEpochs = state.CompletedEpochs;
        GlobalStep = state.GlobalStep;
        _lossCurve.Clear();
        _lossCurve.AddRange(state.LossCurve);
    }

    private static readonly JsonSerializerOptions CheckpointJson = new() { WriteIndented = true };

    private IReadOnlyList<TextExample> ReadSplit(string split) =>
        TextClassificationData.Read(DatasetLocator.ResolveSplit(Spec.Dataset, split, Spec.DataRoot), Spec.TextColumn, Spec.LabelColumn);

    private void CheckLabels(IReadOnlyList<TextExample> examples, string split)
    {
        var outOfRange = examples.FirstOrDefault(e => e.Label >= LabelCount);
        if (outOfRange is not null)
        {
            var file = DatasetLocator.ResolveSplit(Spec.Dataset, split, Spec.DataRoot);
            throw new DatasetException($"{file}:{outOfRange.Line}: label {outOfRange.Label} is outside the {LabelCount} classes (0..{LabelCount - 1}){(Spec.LabelNames is null ? "" : " named by label_names")}.");
        }
    }

    private IReadOnlyList<EncodedExample> Encode(IReadOnlyList<TextExample> examples) =>
        [.. examples.Select(e => new EncodedExample(Tokenizer.Encode(e.Text, Math.Min(Spec.MaxLength, _config!.MaxPositionEmbeddings)), e.Label))];

    public void Dispose()
    {
        _optimizer?.Dispose();
        _model?.Dispose();
    }
}
