using System.Text.Json;
using ExperimentGrid.Core.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace ExperimentGrid.Core.SetFit;

/// <summary>
/// scikit-learn's LogisticRegression as SetFit uses it (L2, C = 1, intercept unpenalised), fitted by Newton's method in
/// float64 until the gradient vanishes rather than to lbfgs's loose default tolerance. Two classes get one weight
/// vector (a sigmoid on class 1), more get one per class (softmax), as scikit-learn parameterises them: with an L2
/// penalty the two parameterisations have different optima, so this matters for matching its predictions.
/// </summary>
public sealed class LogisticRegression
{
    /// <param name="weights">[free classes, features + 1], intercept last: one row for two classes, else one per class.</param>
    private LogisticRegression(double[,] weights, int classes) => (_weights, Classes) = (weights, classes);

    private readonly double[,] _weights;

    public int Classes { get; }
    public int Features => _weights.GetLength(1) - 1;
    private int FreeClasses => _weights.GetLength(0);

    public static LogisticRegression Fit(IReadOnlyList<float[]> features, IReadOnlyList<int> labels, int classes, double c = 1.0,
        double tolerance = 1e-9, int maxIterations = 100)
    {
        if (features.Count == 0 || features.Count != labels.Count)
            throw new ArgumentException($"{features.Count} feature rows for {labels.Count} labels; need the same positive number.");
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), classes, "at least two classes");
        if (c <= 0) throw new ArgumentOutOfRangeException(nameof(c), c, "C must be positive");
        var bad = labels.Select((label, i) => (label, i)).FirstOrDefault(p => (uint)p.label >= classes);
        if ((uint)bad.label >= classes) throw new ArgumentOutOfRangeException(nameof(labels), $"label {bad.label} at row {bad.i} is outside 0..{classes - 1}");

        using var scope = NewDisposeScope();
        var x = Design(features);
        var n = x.shape[0];
        var width = x.shape[1];
        var free = classes == 2 ? 1 : classes;
        var firstFree = classes - free;
        var labelIds = tensor(labels.Select(l => (long)l).ToArray());
        var targets = nn.functional.one_hot(labelIds, classes).to_type(ScalarType.Float64)[.., firstFree..];
        // The intercept column is not penalised; the tiny ridge keeps the softmax Hessian invertible along the
        // direction that shifts every class's intercept alike, which changes no probability.
        var penalty = tensor([.. Enumerable.Repeat(1.0, (int)width - 1), 0.0]);
        var w = zeros(free, width, dtype: ScalarType.Float64);
        // The fit runs on a slot's training thread: its numbers go to libtorch as held Scalars (see HeldScalars).
        using Scalar strength = c, half = 0.5, ridge = 1e-10;

        Tensor Objective(Tensor weights) =>
            nn.functional.cross_entropy(FullLogits(x.matmul(weights.T), classes), labelIds, reduction: nn.Reduction.Sum).mul(strength)
                .Plus((weights.square() * penalty).sum().mul(half));

        for (var iteration = 0; iteration < maxIterations; iteration++)
        {
            var probabilities = FullLogits(x.matmul(w.T), classes).softmax(1)[.., firstFree..];
            var gradient = (probabilities - targets).T.matmul(x).mul(strength).Plus(w * penalty);
            if (gradient.abs().max().item<double>() < tolerance) break;

            var hessian = zeros(free * width, free * width, dtype: ScalarType.Float64);
            for (var a = 0; a < free; a++)
                for (var b = 0; b < free; b++)
                {
                    var curvature = (a == b ? probabilities[.., a] : zeros(n, dtype: ScalarType.Float64)) - probabilities[.., a] * probabilities[.., b];
                    hessian[TensorIndex.Slice(a * width, (a + 1) * width), TensorIndex.Slice(b * width, (b + 1) * width)] =
                        x.T.matmul(x * curvature.unsqueeze(1)).mul(strength);
                }
            hessian = hessian.Plus(diag(penalty.repeat(free))).Plus(eye(free * width, dtype: ScalarType.Float64).mul(ridge));
            var step = linalg.solve(hessian, gradient.reshape(-1)).reshape(free, width);

            // Newton's step is exact near the optimum; far from it, halve until the objective falls (Armijo).
            var current = Objective(w).item<double>();
            var slope = (gradient * step).sum().item<double>();
            var scale = 1.0;
            var next = w - step;
            while (Objective(next).item<double>() > current - 1e-4 * scale * slope && scale > 1e-8)
            {
                scale /= 2;
                using Scalar held = scale;
                next = w - step.mul(held);
            }
            w = next;
        }
        var values = w.data<double>().ToArray();
        var weights = new double[free, width];
        Buffer.BlockCopy(values, 0, weights, 0, values.Length * sizeof(double));
        return new LogisticRegression(weights, classes);
    }

    /// <summary>Logits for every class, [rows, classes]; for two classes class 0's logit is 0, so softmax is the sigmoid.</summary>
    public Tensor Logits(Tensor features)
    {
        using var scope = NewDisposeScope();
        var weights = WeightTensor(features.dtype, features.device);
        var logits = features.matmul(weights[.., ..Features].T).Plus(weights[.., Features]);
        return FullLogits(logits, Classes).MoveToOuterDisposeScope();
    }

    public double[] Probabilities(float[] features)
    {
        using var scope = NewDisposeScope();
        return Logits(tensor(features).unsqueeze(0).to_type(ScalarType.Float64)).softmax(1).data<double>().ToArray();
    }

    private sealed record HeadFile(string Type, int Classes, double[][] Weights);

    private const string HeadType = "logistic-regression";

    /// <summary>JSON, not safetensors: a few hundred float64 values that must round-trip exactly, readable by eye.</summary>
    public void Save(string path)
    {
        var rows = Enumerable.Range(0, FreeClasses).Select(r => Enumerable.Range(0, Features + 1).Select(k => _weights[r, k]).ToArray()).ToArray();
        var temporary = path + ".partial";
        File.WriteAllText(temporary, JsonSerializer.Serialize(new HeadFile(HeadType, Classes, rows), HeadJson));
        File.Move(temporary, path, overwrite: true);
    }

    public static LogisticRegression Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: classification head not found.", path);
        HeadFile? head;
        try
        {
            head = JsonSerializer.Deserialize<HeadFile>(File.ReadAllText(path), HeadJson);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid head file ({e.Message}).");
        }
        if (head is null || head.Type != HeadType) throw new InvalidDataException($"{path}: 'type' must be {HeadType}.");
        if (head.Classes < 2) throw new InvalidDataException($"{path}: 'classes' must be 2 or more, got {head.Classes}.");
        var expectedRows = head.Classes == 2 ? 1 : head.Classes;
        if (head.Weights is null || head.Weights.Length != expectedRows || head.Weights.Any(r => r is null || r.Length < 2 || r.Length != head.Weights[0].Length))
            throw new InvalidDataException($"{path}: 'weights' must be {expectedRows} equal rows of features plus intercept for {head.Classes} classes.");
        var weights = new double[expectedRows, head.Weights[0].Length];
        for (var r = 0; r < expectedRows; r++)
            for (var k = 0; k < head.Weights[0].Length; k++) weights[r, k] = head.Weights[r][k];
        return new LogisticRegression(weights, head.Classes);
    }

    private static readonly JsonSerializerOptions HeadJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    private Tensor WeightTensor(ScalarType type, Device device)
    {
        var values = new double[_weights.Length];
        Buffer.BlockCopy(_weights, 0, values, 0, values.Length * sizeof(double));
        return tensor(values, FreeClasses, Features + 1).to(type, device);
    }

    private static Tensor Design(IReadOnlyList<float[]> features)
    {
        var dimension = features[0].Length;
        var values = new double[features.Count * (dimension + 1)];
        for (var i = 0; i < features.Count; i++)
        {
            if (features[i].Length != dimension) throw new ArgumentException($"row {i} has {features[i].Length} features; row 0 has {dimension}.");
            for (var j = 0; j < dimension; j++) values[i * (dimension + 1) + j] = features[i][j];
            values[i * (dimension + 1) + dimension] = 1;
        }
        return tensor(values, features.Count, dimension + 1);
    }

    private static Tensor FullLogits(Tensor freeLogits, int classes) =>
        classes == 2 ? cat([zeros_like(freeLogits), freeLogits], 1) : freeLogits;
}
