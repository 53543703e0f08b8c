using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Inference;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Training;

/// <summary>
/// Masked-LM continued pretraining (BertForMaskedLM) on the texts of a dataset, labels ignored. Training masks are
/// drawn afresh each epoch with the trial's masking; evaluation always uses one fixed token mask, so perplexities
/// compare across every trial of a sweep, whatever its seed, masking or probability. The saved directory is a
/// valid --model for the other tasks.
/// </summary>
public sealed class MaskedLmTrainable(TrialSpec spec, ILogger? logger = null, IProgress<TrainingProgress>? progress = null)
    : EncoderTrainable<BertForMaskedLM, EncodedTokens>(spec, logger, progress)
{
    /// <summary>The seed of the evaluation mask, shared by all trials.</summary>
    public const int EvaluationMaskSeed = 0;

    private MaskedSequences? _trainingMasks;
    private MaskingVocabulary? _vocabulary;
    private EncodedTokens[] _validation = [];

    private MaskingVocabulary Vocabulary => _vocabulary ??= MaskingVocabulary.Of(Tokenizer);

    protected override (IReadOnlyList<EncodedTokens> Train, int ValidationExamples) PrepareData(BertConfig config)
    {
        var train = Subset.Random(ReadTexts(Spec.TrainSplit), Spec.TrainLimit, Spec.Seed);
        _trainingMasks = new MaskedSequences(Tokenize(train), Vocabulary, Spec.Masking, Spec.MlmProbability, Spec.Seed);
        Logger.LogInformation("{Masking} masking of {Probability:P0} of the pieces, redrawn every epoch", Spec.Masking, Spec.MlmProbability);
        _validation = EvaluationSet(Spec.EvalSplit, Spec.EvalLimit);
        return (_trainingMasks.Epoch(0), _validation.Length);
    }

    protected override IReadOnlyList<EncodedTokens> TrainingExamples(int epoch) =>
        epoch == 0 ? base.TrainingExamples(epoch) : _trainingMasks!.Epoch(epoch);

    protected override BertForMaskedLM CreateModel(BertConfig config) => new(config);

    protected override Batch Collate(IReadOnlyList<EncodedTokens> examples) => Batching.CollateTokens(examples, Tokenizer.PadId, Device);

    protected override Tensor Loss(Batch batch) => Model.Loss(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.Labels);

    protected override MaskedLmMetrics Validate() => Evaluate(_validation);

    public MaskedLmMetrics Evaluate(IReadOnlyList<EncodedTokens> examples)
    {
        UseTrialTf32();
        return MaskedLmEvaluation.Evaluate(Model, examples, Tokenizer.PadId, Device, Spec.EvalBatchSize);
    }

    public override MaskedLmMetrics EvaluateSplit(string split, int? limit = null) => Evaluate(EvaluationSet(split, limit));

    private EncodedTokens[] EvaluationSet(string split, int? limit) =>
        new MaskedSequences(Tokenize(Subset.Random(ReadTexts(split), limit, Spec.Seed)), Vocabulary, MaskingStrategy.Token,
            Masking.DefaultProbability, EvaluationMaskSeed).Epoch(0);

    private IReadOnlyList<string> ReadTexts(string split) =>
        TextClassificationData.ReadTexts(SplitPath(split, DatasetLocator.Extensions), Spec.TextColumn);

    private List<int[]> Tokenize(IReadOnlyList<string> texts) => [.. texts.Select(t => Tokenizer.Encode(t, MaxLength))];
}
