namespace ExperimentGrid.TestSupport;

/// <summary>Sweep files that several test projects need.</summary>
public static class SweepSpecs
{
    /// <summary>
    /// Five fields of ten values each, 10^5 configurations; configuration i has the digits of i, most significant
    /// first, as the value index of learning_rate ((d+1)e-5), batch_size (4(d+1)), weight_decay (0.0d), epochs (d+1)
    /// and max_length (16(d+1)).
    /// </summary>
    public static string HundredThousandPoints(string name, string trial) => $"""
        name: {name}
        objective: {"{ metric: f1 }"}
        trial: {trial}
        grid:
          learning_rate: [{string.Join(", ", Enumerable.Range(1, 10).Select(i => $"{i}.0e-5"))}]
          batch_size: [{string.Join(", ", Enumerable.Range(1, 10).Select(i => i * 4))}]
          weight_decay: [{string.Join(", ", Enumerable.Range(0, 10).Select(i => $"0.0{i}"))}]
          epochs: [{string.Join(", ", Enumerable.Range(1, 10))}]
          max_length: [{string.Join(", ", Enumerable.Range(1, 10).Select(i => i * 16))}]

        """;
}
