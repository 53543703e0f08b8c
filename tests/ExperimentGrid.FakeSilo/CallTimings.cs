using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace ExperimentGrid.FakeSilo;

/// <summary>
/// Times every grain call this silo makes (slots' calls included), by interface and method, and exports it on
/// /metrics: the grid benchmark's --fake mode reads it to say where a trial's overhead goes.
/// </summary>
internal sealed class CallTimings : IOutgoingGrainCallFilter, IDisposable
{
    public const string MeterName = "ExperimentGrid.FakeSilo";

    private readonly Meter _meter = new(MeterName);
    private readonly Histogram<double> _latency;

    public CallTimings() =>
        _latency = _meter.CreateHistogram<double>("experimentgrid-grain-call-latency", "ms", "Grain calls this silo made, from the call to its answer, by method.");

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            await context.Invoke();
        }
        finally
        {
            var grain = context.InterfaceName[(context.InterfaceName.LastIndexOf('.') + 1)..];
            _latency.Record(Stopwatch.GetElapsedTime(start).TotalMilliseconds, new KeyValuePair<string, object?>("method", $"{grain}.{context.MethodName}"));
        }
    }

    public void Dispose() => _meter.Dispose();
}
