using System.Diagnostics;
using System.Text.Json;
using ExperimentGrid.Core.Caching;
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

/// <summary>
/// What every supervised fine-tuning task shares: model loading with a freeze depth, AdamW with transformers'
/// decay groups, the linear schedule, clipping, per-epoch evaluation, progress, and checkpoints. A task supplies its
/// data, its head, how a batch is collated and scored, and how an evaluation split is measured.
/// </summary>
public abstract class EncoderTrainable<TModel, TExample> : ISupervisedTrainable
    where TModel : nn.Module<Tensor, Tensor, Tensor, Tensor>, IEncoderHead
    where TExample : class
{
    private readonly List<LossPoint> _lossCurve = [];
    private readonly IProgress<TrainingProgress>? _progress;
    private TModel? _model;
    private AdamW? _optimizer;
    private BertConfig? _config;
    private TextTokenizer? _tokenizer;
    private IReadOnlyList<TExample> _train = [];
    private int _stepsPerEpoch;
    private readonly WorkCache? _cache;
    private FrozenPrefixCache<TExample>? _prefix;

    /// <param name="cache">Where frozen-prefix outputs are shared with other trials; null computes them every time.</param>
    protected EncoderTrainable(TrialSpec spec, ILogger? logger, IProgress<TrainingProgress>? progress, WorkCache? cache = null)
    {
        Spec = spec;
        Logger = logger ?? NullLogger.Instance;
        _progress = progress;
        _cache = cache;
    }

    public TrialSpec Spec { get; }
    protected ILogger Logger { get; }

    /// <summary>Work shared with other trials (tokenized splits, frozen prefixes); null shares nothing.</summary>
    protected WorkCache? Cache => _cache;
    protected Device Device { get; private set; } = CPU;
    public int Epochs => Spec.Epochs;
    public int CompletedEpochs { get; private set; }
    public int GlobalStep { get; private set; }

    /// <summary>Examples per training forward pass: the spec's, halved after each out-of-memory error, kept by checkpoints.</summary>
    public int MicroBatchSize { get; private set; }

    /// <summary>Examples per evaluation forward pass: the spec's, halved after each out-of-memory error, kept by checkpoints.</summary>
    public int EvalBatchSize { get; private set; }
    public IReadOnlyList<LossPoint> LossCurve => _lossCurve;
    public string DeviceName => Device.ToString();
    public TModel Model => _model ?? throw new InvalidOperationException("Setup() has not run.");
    public TextTokenizer Tokenizer => _tokenizer ?? throw new InvalidOperationException("Setup() has not run.");
    protected BertConfig Config => _config ?? throw new InvalidOperationException("Setup() has not run.");
    protected int MaxLength => Math.Min(Spec.MaxLength, Config.MaxPositionEmbeddings);
    public long TrainableParameters => Model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
    public long TotalParameters => Model.parameters().Sum(p => p.numel());
    private int TotalSteps => _stepsPerEpoch * Spec.Epochs;

    /// <summary>
    /// Reads and tokenizes the training and evaluation splits, and names the labels in <paramref name="config"/>. The
    /// task keeps its evaluation set: its examples need not have the training examples' type.
    /// </summary>
    protected abstract (IReadOnlyList<TExample> Train, int ValidationExamples) PrepareData(BertConfig config);

    protected abstract TModel CreateModel(BertConfig config);

    protected abstract Batch Collate(IReadOnlyList<TExample> examples);

    /// <summary>The training loss of a batch summed over its <see cref="Batch.Targets"/>, whose mean is the task's loss.</summary>
    protected abstract Tensor LossSum(Batch batch);

    /// <summary>The examples of one epoch; a task that redraws its inputs per epoch (masking) overrides it.</summary>
    protected virtual IReadOnlyList<TExample> TrainingExamples(int epoch) => _train;

    /// <summary>
    /// An example's token ids, for a task whose examples are fixed sequences: their frozen prefix can then be read from
    /// the cache. Null (the default) computes the prefix in every forward pass.
    /// </summary>
    protected virtual Func<TExample, int[]>? FixedTokenIds => null;

    protected Tensor Forward(Batch batch)
    {
        using var cached = batch.CachedPrefix is { } prefix ? Model.Bert.UseCachedPrefix(prefix) : null;
        return Model.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
    }

    /// <summary>The task's batch, with its frozen prefix's output attached where the cache has it.</summary>
    private Batch CollateWithPrefix(IReadOnlyList<TExample> examples)
    {
        var batch = Collate(examples);
        if (_prefix?.Rows(examples) is not { } rows) return batch;
        batch.CachedPrefix = rows.to(Device);
        if (!ReferenceEquals(batch.CachedPrefix, rows)) rows.Dispose();
        return batch;
    }

    /// <summary>Registers an evaluation split's examples with the prefix cache (a no-op without one) and returns them.</summary>
    protected IReadOnlyList<TExample> WithCachedPrefix(IReadOnlyList<TExample> examples, string split)
    {
        _prefix?.Register(examples, split, EvalBatchSize);
        return examples;
    }

    /// <summary>Metrics on the evaluation split, after every epoch.</summary>
    protected abstract EvaluationMetrics Validate();

    public abstract EvaluationMetrics EvaluateSplit(string split, int? limit = null);

    /// <summary>
    /// Applies the trial's TF32 setting. libtorch keeps one switch for the whole process and a silo trains several
    /// trials at once, so each trial sets its own before every piece of work (setup, each epoch, each evaluation)
    /// rather than once. Two concurrent trials of one process that disagree can still overlap within an epoch.
    /// </summary>
    private void UseTrialTf32() => ComputePrecisions.UseTf32(Spec.Tf32);

    public void Setup()
    {
        UseTrialTf32();
        Device = Devices.Resolve(Spec.Device);
        MicroBatchSize = Spec.MicroBatchSize ?? Spec.BatchSize;
        EvalBatchSize = Spec.EvalBatchSize;
        var source = ModelSource.Open(Spec.Model, Logger);
        _tokenizer = source.Tokenizer;
        _config = source.Config.Clone();
        var freeze = Spec.Freeze;
        if (freeze.Misfit(_config.NumHiddenLayers, Spec.Model) is { } misfit) throw new TrialSpecException($"freeze: {misfit}.");
        (_train, var validationExamples) = PrepareData(_config);

        // The seed fixes the new head's initialisation and every dropout mask that follows.
        random.manual_seed(Spec.Seed);
        _model = source.LoadModel(CreateModel, Logger);
        _model.Bert.SetFreeze(freeze);
        _model.Bert.Precision.ComputeType = ComputePrecisions.ComputeType(Spec.Precision);
        _model.to(Device);

        _stepsPerEpoch = (_train.Count + Spec.BatchSize - 1) / Spec.BatchSize;
        // SetFit with its body frozen has no parameter to optimize and no step to take: its head is fitted apart.
        _optimizer = _train.Count > 0 ? Optimization.AdamW(_model, Spec.LearningRate, Spec.WeightDecay) : null;
        UseFrozenPrefixCache();
        Logger.LogInformation("{Train} training and {Eval} evaluation examples, freeze {Freeze}, {Trainable:N0} of {Total:N0} parameters trainable, on {Device} in {Precision}",
            _train.Count, validationExamples, freeze, TrainableParameters, TotalParameters, Device, EnumNames.Name(Spec.Precision));
    }

    private void UseFrozenPrefixCache()
    {
        if (!Spec.Freeze.FreezesEmbeddings) return;
        var whyNot = FrozenPrefix.WhyNot(Spec) ?? (_cache is null ? "no cache was given" : FixedTokenIds is null ? "its inputs change" : null);
        if (whyNot is not null)
        {
            Logger.LogInformation("The frozen prefix runs in every forward pass: {Reason}", whyNot);
            return;
        }
        _prefix = new FrozenPrefixCache<TExample>(_cache!, Model.Bert, Spec, Collate, FixedTokenIds!, Logger);
        _prefix.Register(_train, Spec.TrainSplit, EvalBatchSize);
    }

    public EpochResult Step(CancellationToken cancellationToken = default)
    {
        UseTrialTf32();
        var model = Model;
        if (CompletedEpochs >= Spec.Epochs) throw new InvalidOperationException($"all {Spec.Epochs} epochs are done.");
        var epoch = CompletedEpochs;
        var warmup = (int)Math.Ceiling(Spec.WarmupRatio * TotalSteps);

        model.train();
        // A checkpoint taken mid-epoch resumes here: the epoch's batch order is a function of (seed, epoch), so the
        // batches already trained are skipped and the rest run exactly as they would have.
        var done = GlobalStep - epoch * _stepsPerEpoch;
        if (done == 0) _epoch = new EpochProgress(0, 0, 0, 0);
        var clock = Stopwatch.StartNew();
        var examples = TrainingExamples(epoch);
        foreach (var indices in Batching.ShuffledBatches(examples.Count, Spec.BatchSize, Spec.Seed, epoch).Skip(done))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var learningRate = Spec.LearningRate * Optimization.LinearScheduleFactor(GlobalStep, warmup, TotalSteps);
            _optimizer!.LearningRate = learningRate;
            var (loss, batchTokens) = TrainBatch([.. indices.Select(i => examples[i])]);
            GlobalStep++;
            if (!float.IsFinite(loss))
                throw new TrainingDivergedException($"loss became {loss} at step {GlobalStep} (epoch {epoch + 1}, learning rate {learningRate:G3}); lower learning_rate or check the data.");
            _lossCurve.Add(new LossPoint(GlobalStep, loss));
            _epoch = new EpochProgress(_epoch.LossSum + loss * indices.Length, _epoch.Samples + indices.Length, _epoch.Tokens + batchTokens,
                _epoch.Seconds + clock.Elapsed.TotalSeconds);
            _progress?.Report(new TrainingProgress(epoch + 1, Spec.Epochs, GlobalStep, TotalSteps, _epoch.LossSum / _epoch.Samples, learningRate,
                _epoch.Samples / _epoch.Seconds, _epoch.Tokens / _epoch.Seconds, TimeSpan.FromSeconds(_epoch.Seconds), MicroBatchSize));
            // Time spent by the listener (a checkpoint, say) is not training time.
            clock.Restart();
        }
        var trained = _epoch;
        CompletedEpochs++;
        var validation = Validate();
        // An epoch with nothing to train (SetFit with its body frozen) has no loss or rate to average: 0, as JSON has no NaN.
        double PerSample(double sum) => trained.Samples > 0 ? sum / trained.Samples : 0;
        double PerSecond(double count) => trained.Seconds > 0 ? count / trained.Seconds : 0;
        Logger.LogInformation("epoch {Epoch}: train loss {TrainLoss:F4}, {Split} {Metrics}",
            CompletedEpochs, PerSample(trained.LossSum), Spec.EvalSplit, MetricsText(validation));
        return new EpochResult(CompletedEpochs, GlobalStep, PerSample(trained.LossSum), validation, trained.Seconds,
            PerSecond(trained.Samples), PerSecond(trained.Tokens));
    }

    /// <summary>
    /// One optimizer step over <paramref name="examples"/> in micro-batches. Out of memory, it halves the micro-batch
    /// and redoes the same batch, so the data order, the step count and the effective batch stay as they were.
    /// </summary>
    private (float Loss, long Tokens) TrainBatch(TExample[] examples)
    {
        while (true)
        {
            var micro = MicroBatchSize;
            long tokens = 0;
            try
            {
                var loss = Optimization.TrainingStep(examples.Chunk(micro).Select(chunk => (Func<LossSum>)(() =>
                {
                    OutOfMemory.BeforeForward?.Invoke(new ForwardPass(Spec, Training: true, GlobalStep + 1, chunk.Length));
                    using var batch = CollateWithPrefix(chunk);
                    tokens += batch.Tokens;
                    return new LossSum(LossSum(batch), batch.Targets);
                })), _optimizer!, Spec.MaxGradNorm);
                return (loss, tokens);
            }
            catch (Exception e) when (OutOfMemory.Is(e))
            {
                // The step's gradients are partial; the redo zeroes them before its first micro-batch.
                MicroBatchSize = Halved(micro, "micro-batch", "batch_size", e);
                Logger.LogWarning("Out of memory at step {Step} on {Device}: the batch of {BatchSize} now runs as micro-batches of {MicroBatch}, gradients accumulated; redoing the step",
                    GlobalStep + 1, Device, Spec.BatchSize, MicroBatchSize);
            }
        }
    }

    /// <summary>
    /// Runs a whole evaluation pass, again with half the evaluation batch after an out-of-memory error. The pass
    /// starts over, so its sums never count a batch twice.
    /// </summary>
    protected T Evaluating<T>(Func<T> evaluate)
    {
        UseTrialTf32();
        while (true)
        {
            var size = EvalBatchSize;
            try
            {
                OutOfMemory.BeforeForward?.Invoke(new ForwardPass(Spec, Training: false, GlobalStep, size));
                return evaluate();
            }
            catch (Exception e) when (OutOfMemory.Is(e))
            {
                EvalBatchSize = Halved(size, "evaluation batch", "eval_batch_size", e);
                Logger.LogWarning("Out of memory evaluating on {Device}: evaluation batches of {EvalBatchSize} now, instead of {Before}; evaluating again",
                    Device, EvalBatchSize, size);
            }
        }
    }

    private int Halved(int size, string what, string field, Exception error)
    {
        OutOfMemory.Release();
        if (size == 1)
            throw new TrialOutOfMemoryException($"out of memory even at {what} 1 on {Device}; lower max_length or {field}.", error);
        return size / 2;
    }

    /// <summary>Runs <paramref name="score"/> over length-sorted batches in eval mode without autograd.</summary>
    protected void ForEachEvaluationBatch(IReadOnlyList<TExample> examples, Func<TExample, int> length, Action<int[], Batch> score) =>
        ForEachEvaluationBatch(examples, length, CollateWithPrefix, score);

    protected void ForEachEvaluationBatch<T>(IReadOnlyList<T> examples, Func<T, int> length, Func<IReadOnlyList<T>, Batch> collate, Action<int[], Batch> score)
    {
        Model.eval();
        using var noGrad = no_grad();
        foreach (var indices in Batching.LengthSortedBatches(examples, length, EvalBatchSize))
        {
            using var scope = NewDisposeScope();
            using var batch = collate([.. indices.Select(i => examples[i])]);
            score(indices, batch);
        }
    }

    private static string MetricsText(EvaluationMetrics metrics) =>
        string.Join(", ", metrics.Values().Select(v => $"{EvaluationMetrics.Name(v.Metric)} {v.Value:F4}"));

    public virtual void SaveModel(string directory) => ModelDirectory.Save(directory, Model, Config, Tokenizer);

    private const string WeightsFile = "trainable.safetensors";
    private const string OptimizerFile = "optimizer.safetensors";
    private const string StateFile = "trainer-state.json";
    private const string RngKey = "__rng_state__";

    /// <summary>Sums over the current epoch's steps so far; a mid-epoch checkpoint carries them so the epoch's figures stay whole.</summary>
    private sealed record EpochProgress(double LossSum, long Samples, long Tokens, double Seconds);

    private EpochProgress _epoch = new(0, 0, 0, 0);

    /// <summary>The batch sizes are null in checkpoints written before micro-batches existed.</summary>
    private sealed record CheckpointState(int CompletedEpochs, int GlobalStep, int Seed, List<LossPoint> LossCurve, EpochProgress? Epoch,
        int? MicroBatchSize = null, int? EvalBatchSize = null);

    public void SaveCheckpoint(string directory)
    {
        Directory.CreateDirectory(directory);
        using var scope = NewDisposeScope();
        Safetensors.Save(Path.Combine(directory, WeightsFile), Model.state_dict().Append(
            KeyValuePair.Create(RngKey, random.get_rng_state().to_type(ScalarType.Int64))));
        _optimizer?.Save(Path.Combine(directory, OptimizerFile));
        File.WriteAllText(Path.Combine(directory, StateFile),
            JsonSerializer.Serialize(new CheckpointState(CompletedEpochs, GlobalStep, Spec.Seed, _lossCurve, _epoch, MicroBatchSize, EvalBatchSize), CheckpointJson));
        Config.Save(Path.Combine(directory, ModelDirectory.ConfigFile));
    }

    public void LoadCheckpoint(string directory)
    {
        var statePath = Path.Combine(directory, StateFile);
        if (!File.Exists(statePath)) throw new FileNotFoundException($"{directory}: not a checkpoint (no {StateFile}).");
        var state = ReadState(statePath);
        if (state.Seed != Spec.Seed) throw new InvalidDataException($"{statePath}: checkpoint was made with seed {state.Seed}, this trial uses {Spec.Seed}.");

        using (NewDisposeScope())
        {
            var weights = Safetensors.Load(Path.Combine(directory, WeightsFile));
            if (!weights.Remove(RngKey, out var rng)) throw new InvalidDataException($"{directory}: checkpoint has no RNG state.");
            random.set_rng_state(rng.to_type(ScalarType.Byte));
            ModelDirectory.LoadWeights(Model, weights, directory, [], Logger);
        }
        _optimizer?.Load(Path.Combine(directory, OptimizerFile));
        if (state.GlobalStep < state.CompletedEpochs * _stepsPerEpoch || state.GlobalStep > (state.CompletedEpochs + 1) * _stepsPerEpoch)
            throw new InvalidDataException($"{statePath}: step {state.GlobalStep} does not fall in epoch {state.CompletedEpochs + 1} of {_stepsPerEpoch} steps; was the checkpoint made with another batch size or data slice?");
        CompletedEpochs = state.CompletedEpochs;
        GlobalStep = state.GlobalStep;
        _epoch = state.Epoch ?? new EpochProgress(0, 0, 0, 0);
        // What ran out of memory before would again: a resumed trial keeps the sizes it had come down to.
        MicroBatchSize = state.MicroBatchSize ?? MicroBatchSize;
        EvalBatchSize = state.EvalBatchSize ?? EvalBatchSize;
        _lossCurve.Clear();
        _lossCurve.AddRange(state.LossCurve);
    }

    private static readonly JsonSerializerOptions CheckpointJson = new() { WriteIndented = true };

    /// <summary>The trainer state; a damaged file is named, as the slot reports only the message.</summary>
    private static CheckpointState ReadState(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(path), CheckpointJson)
                ?? throw new InvalidDataException($"{path}: empty checkpoint state.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: damaged checkpoint state, line {e.LineNumber + 1}: {e.Message.Split(" Path:")[0]}", e);
        }
    }

    protected string SplitPath(string split, IReadOnlyList<string> extensions) =>
        DatasetLocator.ResolveSplit(Spec.Dataset, split, Spec.DataRoot, extensions);

    public void Dispose()
    {
        _prefix?.Dispose();
        _optimizer?.Dispose();
        _model?.Dispose();
        GC.SuppressFinalize(this);
    }
}
