using System.Text.Json;
using System.Text.Json.Nodes;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Metrics;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Training;

namespace ExperimentGrid.Runtime;

/// <summary>
/// The grid's records as JSON, for `grid ... --json` and the silo's /api alike, so that the two cannot drift apart.
/// Keys are snake_case; hyperparameters and metrics are objects keyed by name; NaN and infinities, which JSON lacks, are null.
/// </summary>
public static class GridJson
{
    /// <summary>Leaderboard rows in the order given, each as <see cref="Row"/> writes it.</summary>
    public static JsonArray Leaderboard(IEnumerable<LeaderboardRow> rows) => new([.. rows.Select(Row)]);

    /// <summary>
    /// One configuration. The primary objective's mean, ci95_low and ci95_high stand at the top level beside n;
    /// "objectives" has every objective's; an interval that one replicate cannot give, and a NaN, are null.
    /// </summary>
    public static JsonObject Row(LeaderboardRow row)
    {
        var intervals = row.Intervals;
        var best = row.Best;
        var json = new JsonObject
        {
            ["sweep"] = row.SweepId,
            ["trial"] = best.TrialId,
            ["hyperparameters"] = Hyperparameters(row.Hyperparameters),
            ["n"] = row.N,
            ["metric"] = Name(row.Objective),
            ["direction"] = Direction(row.Objective),
            ["mean"] = Number(intervals[0].Mean),
            ["ci95_low"] = Number(intervals[0].Low),
            ["ci95_high"] = Number(intervals[0].High),
            ["objectives"] = new JsonArray([.. row.Objectives.Select((o, i) => new JsonObject
            {
                ["metric"] = Name(o),
                ["direction"] = Direction(o),
                ["mean"] = Number(intervals[i].Mean),
                ["ci95_low"] = Number(intervals[i].Low),
                ["ci95_high"] = Number(intervals[i].High),
            })]),
        };
        if (row.ParetoRank is not null) json["pareto_front"] = row.OnParetoFront;
        json["replicates"] = new JsonArray([.. row.Replicates.Select(r => new JsonObject
        {
            ["trial"] = r.TrialId,
            ["seed"] = r.Seed,
            ["value"] = Number(r.Values[0]),
            ["values"] = new JsonObject(row.Objectives.Select((o, i) => KeyValuePair.Create(Name(o), Number(r.Values[i])))),
            ["metrics"] = Metrics(r.Metrics),
            ["model"] = r.Model,
        })]);
        json["model"] = best.Model;
        return json;
    }

    /// <summary>A sweep as a list shows it: its trials counted by status, not listed.</summary>
    public static JsonObject SweepSummary(SweepSnapshot sweep)
    {
        IReadOnlyList<SweepObjective> objectives = sweep.Objectives ?? (sweep.Objective is { } objective ? [objective] : []);
        return new JsonObject
        {
            ["id"] = sweep.SweepId,
            ["name"] = sweep.Name,
            ["status"] = Name(sweep.Status),
            ["end_reason"] = sweep.EndReason,
            ["submitted_at"] = sweep.SubmittedAt,
            ["objectives"] = new JsonArray([.. objectives.Select(o => new JsonObject { ["metric"] = Name(o), ["direction"] = Direction(o) })]),
            ["trial_counts"] = new JsonObject(Enum.GetValues<TrialStatus>().Select(s => KeyValuePair.Create(Name(s), (JsonNode?)sweep.Count(s)))),
        };
    }

    /// <summary>
    /// A sweep in full: its summary, its spec as submitted, and every trial it has suggested. <paramref name="trials"/>
    /// holds the trial grains' snapshots of the trials released to them; the others are as the sweep shows them.
    /// </summary>
    public static JsonObject Sweep(SweepSnapshot sweep, IReadOnlyDictionary<string, TrialSnapshot> trials)
    {
        var json = SweepSummary(sweep);
        json["source"] = sweep.Submission?.Source;
        json["spec"] = sweep.Submission?.Text;
        json["max_concurrent_trials"] = sweep.MaxConcurrentTrials;
        json["space_size"] = sweep.SpaceSize;
        json["trials"] = new JsonArray([.. sweep.Trials.Select(t => Trial(t, trials.GetValueOrDefault(t.TrialId)))]);
        return json;
    }

    /// <summary>
    /// A trial: the grain's status, attempts, silo, progress and checkpoint where <paramref name="trial"/> is given;
    /// "metrics" are the final ones of a completed trial and the last epoch's evaluation of any other.
    /// </summary>
    public static JsonObject Trial(SweepTrialView view, TrialSnapshot? trial) => new()
    {
        ["id"] = view.TrialId,
        ["status"] = Name(trial?.Status ?? view.Status),
        ["hyperparameters"] = Hyperparameters(view.Hyperparameters),
        ["attempts"] = trial?.Attempts ?? view.Attempts,
        ["silo"] = trial is null ? view.Silo : trial.Silo,
        ["progress"] = Progress(trial is null ? view.Progress : trial.Progress),
        ["objective"] = Number(view.Objective),
        ["metrics"] = Metrics(trial?.Outcome?.Metrics ?? trial?.LastEval ?? []),
        ["error"] = trial is null ? view.Error : trial.Error,
        ["model"] = trial?.Outcome?.Model,
        ["checkpoint"] = trial?.Checkpoint,
    };

    /// <summary>A trial's learning curves: training loss by step, and each epoch's report with its evaluation metrics.</summary>
    public static JsonObject Curve(string sweepId, string trialId, TrialCurve curve) => new()
    {
        ["sweep"] = sweepId,
        ["trial"] = trialId,
        ["loss"] = new JsonArray([.. curve.Loss.Select(p => new JsonObject { ["step"] = p.Step, ["loss"] = Number(p.Loss) })]),
        ["epochs"] = new JsonArray([.. curve.Epochs.Select(e => new JsonObject
        {
            ["epoch"] = e.Epoch,
            ["step"] = e.GlobalStep,
            ["train_loss"] = Number(e.TrainLoss),
            ["objective"] = Number(e.Objective),
            ["metrics"] = Metrics(e.Metrics),
        })]),
    };

    private static JsonObject? Progress(TrainingProgress? progress) => progress is null ? null : new JsonObject
    {
        ["epoch"] = progress.Epoch,
        ["epochs"] = progress.Epochs,
        ["step"] = progress.Step,
        ["total_steps"] = progress.TotalSteps,
        ["loss"] = Number(progress.Loss),
        ["learning_rate"] = Number(progress.LearningRate),
        ["samples_per_second"] = Number(progress.SamplesPerSecond),
        ["tokens_per_second"] = Number(progress.TokensPerSecond),
        ["elapsed_seconds"] = Number(progress.Elapsed.TotalSeconds),
        ["micro_batch_size"] = progress.MicroBatchSize,
    };

    private static JsonObject Hyperparameters(IEnumerable<Hyperparameter> hyperparameters) =>
        new(hyperparameters.Select(h => KeyValuePair.Create(h.Field, (JsonNode?)h.Value)));

    private static JsonObject Metrics(IEnumerable<MetricValue> metrics) =>
        new(metrics.Select(m => KeyValuePair.Create(EvaluationMetrics.Name(m.Metric), Number(m.Value))));

    private static JsonNode? Number(double? value) => value is { } v && double.IsFinite(v) ? JsonValue.Create(v) : null;

    private static string Name(SweepObjective objective) => EvaluationMetrics.Name(objective.Metric);

    private static string Name<TEnum>(TEnum value) where TEnum : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    private static string Direction(SweepObjective objective) => objective.Mode == ObjectiveMode.Max ? "maximize" : "minimize";
}
