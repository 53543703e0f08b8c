using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Trials;

namespace ExperimentGrid.Core.Training;

/// <summary>Class names and label checks shared by the sentence-level classification tasks.</summary>
internal static class ClassLabels
{
    /// <summary>label_names where given; else LABEL_0..LABEL_{K-1} for the highest id in the training data, at least two.</summary>
    public static IReadOnlyList<string> Names(TrialSpec spec, IReadOnlyList<TextExample> train) =>
        spec.LabelNames ?? [.. Enumerable.Range(0, Math.Max(2, train.Max(e => e.Label) + 1)).Select(i => $"LABEL_{i}")];

    public static void Check(IReadOnlyList<TextExample> examples, int classes, string path, TrialSpec spec)
    {
        var outOfRange = examples.FirstOrDefault(e => e.Label >= classes);
        if (outOfRange is not null)
            throw new DatasetException($"{path}:{outOfRange.Line}: label {outOfRange.Label} is outside the {classes} classes (0..{classes - 1}){(spec.LabelNames is null ? "" : " named by label_names")}.");
    }
}
