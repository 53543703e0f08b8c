using System.Text.Json;
using ExperimentGrid.Core.Tests.Sweeps;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.Tests;

/// <summary>The trial fields precision and tf32: defaults, validation, YAML, sweeps, the JSON a trial travels in, and TF32's switch.</summary>
[Collection(ModelCollection.Name)]
public sealed class PrecisionSettingsTests(ModelFixture models) : IDisposable
{
    private readonly SweepFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public void By_default_a_trial_trains_in_fp32_with_tf32_allowed()
    {
        var spec = new TrialValues().ToSpec();
        Assert.Equal((ComputePrecision.Fp32, true), (spec.Precision, spec.Tf32));
    }

    [Fact]
    public void A_yaml_trial_file_sets_both_and_flags_override_it()
    {
        var path = _fixture.Write("precision: bf16\ntf32: false\n");
        var spec = TrialValues.Load(path).ToSpec(path);
        Assert.Equal((ComputePrecision.Bf16, false), (spec.Precision, spec.Tf32));

        var overridden = TrialValues.Load(path).Read("precision", "FP32").Read("tf32", "true").ToSpec(path);
        Assert.Equal((ComputePrecision.Fp32, true), (overridden.Precision, overridden.Tf32));
    }

    [Fact]
    public void A_bad_precision_is_named_with_what_is_allowed()
    {
        var error = Assert.Throws<TrialSpecException>(() => new TrialValues().Read("precision", "fp16").ToSpec("flags"));
        Assert.Contains("precision: 'fp16' is not a precision (allowed: fp32, bf16)", error.Message);
    }

    [Fact]
    public void A_tf32_that_is_not_a_boolean_is_named_with_its_line()
    {
        var path = _fixture.Write("model: minilm\ntf32: sometimes\n");
        var error = Assert.Throws<TrialSpecException>(() => TrialValues.Load(path).ToSpec(path));
        Assert.Equal($"{path}: 1 problem(s):\n  - tf32 (line 2): 'sometimes' is not true or false", error.Message);
    }

    [Fact]
    public void A_sweep_varies_both_and_names_a_bad_value()
    {
        var header = "name: s\nobjective: { metric: f1 }\ntrial: { dataset: reviews }\n";
        var plan = _fixture.Expand(header + "grid:\n  precision: [fp32, bf16]\n  tf32: [true, false]\n");
        Assert.Equal(
            [(ComputePrecision.Fp32, true), (ComputePrecision.Fp32, false), (ComputePrecision.Bf16, true), (ComputePrecision.Bf16, false)],
            plan.Trials.Select(t => (t.Spec.Precision, t.Spec.Tf32)));
        Assert.Equal(["precision", "tf32"], plan.Trials[0].Hyperparameters.Select(h => h.Field));

        var (message, _) = _fixture.Refuse(header + "grid:\n  precision: [bf16, fp8]\n  tf32: [true, maybe]\n");
        Assert.Contains("'fp8' is not a precision (allowed: fp32, bf16)", message);
        Assert.Contains("'maybe' is not true or false", message);
    }

    [Fact]
    public void The_spec_s_json_names_the_precision_and_reads_back()
    {
        var spec = new TrialSpec { Precision = ComputePrecision.Bf16, Tf32 = false };
        var json = TrialRunner.ToJson(spec);
        using var document = JsonDocument.Parse(json);
        Assert.Equal("bf16", document.RootElement.GetProperty("precision").GetString());
        Assert.False(document.RootElement.GetProperty("tf32").GetBoolean());
        Assert.Equal(spec, JsonSerializer.Deserialize<TrialSpec>(json, TrialRunner.Json));
    }

    [Fact]
    public void UseTf32_sets_libtorch_s_process_wide_switches()
    {
        var (matmul, cudnn) = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32);
        try
        {
            ComputePrecisions.UseTf32(false);
            Assert.False(backends.cuda.matmul.allow_tf32 || backends.cudnn.allow_tf32);
            ComputePrecisions.UseTf32(true);
            Assert.True(backends.cuda.matmul.allow_tf32 && backends.cudnn.allow_tf32);
        }
        finally
        {
            backends.cuda.matmul.allow_tf32 = matmul;
            backends.cudnn.allow_tf32 = cudnn;
        }
    }

    [Fact]
    public void A_trial_sets_its_own_tf32_again_for_every_epoch_and_evaluation()
    {
        var (matmul, cudnn) = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32);
        try
        {
            var spec = new TrialSpec
            {
                Model = models.MiniLmDirectory, TrainLimit = 8, EvalLimit = 8, TestSplit = null, MaxLength = 32, BatchSize = 8, Tf32 = false, Device = "cpu",
            };
            using var trainable = new TextClassificationTrainable(spec);
            ComputePrecisions.UseTf32(true);
            trainable.Setup();
            Assert.False(backends.cuda.matmul.allow_tf32);

            // Another trial in the process turns it on between this trial's pieces of work.
            ComputePrecisions.UseTf32(true);
            trainable.Step();
            Assert.False(backends.cuda.matmul.allow_tf32 || backends.cudnn.allow_tf32);
            ComputePrecisions.UseTf32(true);
            trainable.EvaluateSplit("validation", 8);
            Assert.False(backends.cuda.matmul.allow_tf32 || backends.cudnn.allow_tf32);
        }
        finally
        {
            backends.cuda.matmul.allow_tf32 = matmul;
            backends.cudnn.allow_tf32 = cudnn;
        }
    }
}
