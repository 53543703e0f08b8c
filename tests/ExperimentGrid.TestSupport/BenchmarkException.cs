namespace ExperimentGrid.TestSupport;

/// <summary>A problem the user of a benchmark can act on: printed as one "error:" message, without a stack trace.</summary>
public sealed class BenchmarkException(string message) : Exception(message);
