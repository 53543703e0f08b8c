namespace ExperimentGrid.Core.Sweeps;

/// <summary>
/// One parameter's density over the values that some trials took, as Optuna's univariate _ParzenEstimator builds it: a
/// weighted mixture of one kernel per observation and a prior kernel covering the whole range. Values are in the
/// parameter's internal form: the logarithm for a log-uniform field, the value for a uniform or integer one, the index
/// for a category.
/// </summary>
internal abstract class ParzenEstimator
{
    /// <summary>Optuna's default: the prior counts as much as one observation.</summary>
    public const double PriorWeight = 1.0;

    protected double[] MixtureWeights { get; }

    /// <summary>Normalised mixture weights: the observations' weights then the prior's, or the prior alone when nothing was observed.</summary>
    protected ParzenEstimator(IReadOnlyList<double> observationWeights)
    {
        MixtureWeights = observationWeights.Count == 0 ? [1.0] : [.. observationWeights, PriorWeight];
        var total = MixtureWeights.Sum();
        for (var i = 0; i < MixtureWeights.Length; i++) MixtureWeights[i] /= total;
    }

    public abstract double Sample(Random random);

    public abstract double LogDensity(double value);

    protected int PickKernel(Random random)
    {
        var u = random.NextDouble();
        for (var k = 0; k < MixtureWeights.Length - 1; k++)
        {
            u -= MixtureWeights[k];
            if (u < 0) return k;
        }
        return MixtureWeights.Length - 1;
    }

    /// <summary>log Σ exp(terms), without overflow or underflow for terms far from 0.</summary>
    protected static double LogSumExp(IEnumerable<double> terms)
    {
        var list = terms as double[] ?? [.. terms];
        var max = list.Max();
        if (double.IsNegativeInfinity(max)) return max;
        return max + Math.Log(list.Sum(t => Math.Exp(t - max)));
    }
}

/// <summary>
/// A real or integer parameter on [low, high]: truncated normal kernels centred on the observations, each as wide as
/// the larger gap to its neighbours (the range's ends count as neighbours; the outermost kernels look inwards only,
/// Optuna's consider_endpoints = false), clipped to [range / min(100, 1 + kernels), range] (the "magic clip"), and a
/// prior kernel centred on the range with the range's width. An integer parameter (step 1) is a discretised mixture:
/// each kernel lives on [low − ½, high + ½] and an integer gets the mass of [x − ½, x + ½].
/// </summary>
internal sealed class NumericParzenEstimator : ParzenEstimator
{
    private readonly double[] _mus;
    private readonly double[] _sigmas;

    /// <summary>Each kernel's log mass on the range, which its density is divided by.</summary>
    private readonly double[] _logMasses;

    private readonly double _low;
    private readonly double _high;
    private readonly double _step;

    /// <param name="step">1 for an integer parameter, 0 for a real one.</param>
    public NumericParzenEstimator(IReadOnlyList<double> observations, IReadOnlyList<double> weights, double low, double high, double step)
        : base(weights)
    {
        (_low, _high, _step) = (low, high, step);
        var range = high - low + step;
        var priorMu = 0.5 * (low + high);
        var n = observations.Count;
        var sigmas = Bandwidths(observations, priorMu, low - (step / 2), high + (step / 2));
        var minSigma = range / Math.Min(100.0, 1.0 + n + 1);
        _mus = [.. observations, priorMu];
        _sigmas = [.. sigmas.Select(s => Math.Clamp(s, minSigma, range)), range];
        _logMasses = [.. _mus.Select((mu, k) => Gauss.LogMass((Lower - mu) / _sigmas[k], (Upper - mu) / _sigmas[k]))];
    }

    /// <summary>Each observation's distance to its farther neighbour, with the prior's mean among them and the range's ends around them.</summary>
    private static double[] Bandwidths(IReadOnlyList<double> observations, double priorMu, double lowEnd, double highEnd)
    {
        var withPrior = observations.Append(priorMu).ToArray();
        var order = Enumerable.Range(0, withPrior.Length).OrderBy(i => withPrior[i]).ToArray();
        var sorted = new double[withPrior.Length + 2];
        sorted[0] = lowEnd;
        for (var i = 0; i < order.Length; i++) sorted[i + 1] = withPrior[order[i]];
        sorted[^1] = highEnd;
        var sortedSigmas = new double[withPrior.Length];
        for (var i = 0; i < sortedSigmas.Length; i++)
            sortedSigmas[i] = Math.Max(sorted[i + 1] - sorted[i], sorted[i + 2] - sorted[i + 1]);
        if (sorted.Length >= 4)
        {
            sortedSigmas[0] = sorted[2] - sorted[1];
            sortedSigmas[^1] = sorted[^2] - sorted[^3];
        }
        var sigmas = new double[observations.Count];
        for (var i = 0; i < order.Length; i++)
            if (order[i] < sigmas.Length) sigmas[order[i]] = sortedSigmas[i];
        return sigmas;
    }

    private double Lower => _low - (_step / 2);
    private double Upper => _high + (_step / 2);

    public override double Sample(Random random)
    {
        var k = PickKernel(random);
        // Rejection from the whole normal: every kernel's mean lies in the range and its width is at most the range's,
        // so about a third of its mass or more lies inside and few draws are thrown away.
        double x;
        do x = _mus[k] + (_sigmas[k] * StandardNormal(random));
        while (x < Lower || x > Upper);
        return _step == 0 ? x : Math.Clamp(_low + (Math.Round((x - _low) / _step) * _step), _low, _high);
    }

    public override double LogDensity(double value) =>
        LogSumExp(Enumerable.Range(0, _mus.Length).Select(k => Math.Log(MixtureWeights[k]) + LogKernel(k, value)));

    private double LogKernel(int k, double x)
    {
        var (mu, sigma) = (_mus[k], _sigmas[k]);
        if (_step == 0)
            return -0.5 * Math.Pow((x - mu) / sigma, 2) - (0.5 * Math.Log(2 * Math.PI)) - Math.Log(sigma) - _logMasses[k];
        return Gauss.LogMass((x - (_step / 2) - mu) / sigma, (x + (_step / 2) - mu) / sigma) - _logMasses[k];
    }

    /// <summary>Box–Muller: System.Random has no normal draw, and this one depends only on the generator's state.</summary>
    private static double StandardNormal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}

/// <summary>
/// A categorical parameter: each observation's kernel puts weight 1 + prior/(n + 1) on its category and prior/(n + 1)
/// on every other, normalised; the prior kernel is uniform.
/// </summary>
internal sealed class CategoricalParzenEstimator : ParzenEstimator
{
    private readonly double[][] _kernels;

    public CategoricalParzenEstimator(IReadOnlyList<double> observations, IReadOnlyList<double> weights, int categories)
        : base(weights)
    {
        var kernels = observations.Count + 1;
        _kernels = new double[kernels][];
        for (var k = 0; k < kernels; k++)
        {
            var row = Enumerable.Repeat(PriorWeight / kernels, categories).ToArray();
            if (k < observations.Count) row[(int)observations[k]] += 1;
            var total = row.Sum();
            _kernels[k] = [.. row.Select(w => w / total)];
        }
    }

    public override double Sample(Random random)
    {
        var row = _kernels[PickKernel(random)];
        var u = random.NextDouble();
        for (var c = 0; c < row.Length - 1; c++)
        {
            u -= row[c];
            if (u < 0) return c;
        }
        return row.Length - 1;
    }

    public override double LogDensity(double value) =>
        LogSumExp(Enumerable.Range(0, _kernels.Length).Select(k => Math.Log(MixtureWeights[k]) + Math.Log(_kernels[k][(int)value])));
}

/// <summary>The standard normal's probability mass in log form, accurate far into the tails where it underflows.</summary>
internal static class Gauss
{
    /// <summary>log P(a ≤ Z ≤ b) for a standard normal Z, a &lt; b.</summary>
    public static double LogMass(double a, double b)
    {
        if (b <= 0) return LogMass(-b, -a);
        if (a >= 0) return LogUpperTail(a) + Log1MinusExp(LogUpperTail(b) - LogUpperTail(a));
        return Log1MinusExp(Math.Log(Math.Exp(LogUpperTail(-a)) + Math.Exp(LogUpperTail(b))));
    }

    /// <summary>log P(Z ≥ z) = log(½ erfc(z/√2)).</summary>
    public static double LogUpperTail(double z) => Math.Log(0.5) + LogErfc(z / Math.Sqrt(2));

    /// <summary>
    /// log erfc(x) by the Chebyshev fit of Numerical Recipes (erfcc, relative error below 1.2e-7 everywhere), taken in
    /// log form so that it stays finite where erfc itself underflows; .NET has no erfc.
    /// </summary>
    private static double LogErfc(double x)
    {
        if (x < 0) return Math.Log(2 - Math.Exp(LogErfc(-x)));
        var t = 1 / (1 + (0.5 * x));
        var poly = -1.26551223 + (t * (1.00002368 + (t * (0.37409196 + (t * (0.09678418 + (t * (-0.18628806 + (t * (0.27886807
            + (t * (-1.13520398 + (t * (1.48851587 + (t * (-0.82215223 + (t * 0.17087277)))))))))))))))));
        return Math.Log(t) - (x * x) + poly;
    }

    /// <summary>log(1 − e^x) for x ≤ 0, accurate both near 0 and far below it.</summary>
    private static double Log1MinusExp(double x) => x > -0.693 ? Math.Log(-double.ExpM1(x)) : Math.Log(1 - Math.Exp(x));
}
