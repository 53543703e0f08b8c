using ExperimentGrid.Core.Metrics;

namespace ExperimentGrid.Core.Tests;

public sealed class EntityMetricsTests
{
    private static IReadOnlyList<string> Tags(string text) => text.Split(' ');

    [Fact]
    public void Entities_are_extracted_as_seqeval_does_for_iob2()
    {
        Assert.Equal([new EntitySpan("PER", 0, 1), new EntitySpan("LOC", 3, 3)], EntityMetrics.Entities(Tags("B-PER I-PER O B-LOC")));
        // Two adjacent B- tags are two entities; a type change inside a run splits it; a leading I- opens an entity.
        Assert.Equal([new EntitySpan("PER", 0, 0), new EntitySpan("PER", 1, 1)], EntityMetrics.Entities(Tags("B-PER B-PER")));
        Assert.Equal([new EntitySpan("PER", 0, 0), new EntitySpan("LOC", 1, 1)], EntityMetrics.Entities(Tags("B-PER I-LOC")));
        Assert.Equal([new EntitySpan("ORG", 1, 2)], EntityMetrics.Entities(Tags("O I-ORG I-ORG")));
        Assert.Empty(EntityMetrics.Entities(Tags("O O")));
    }

    [Fact]
    public void A_partial_span_or_a_wrong_type_is_a_miss_computed_by_hand()
    {
        // Reference: PER(0-1), LOC(3), ORG(5-6). Prediction: PER(0) partial → miss, LOC(3) hit, MISC(5-6) wrong type → miss.
        var reference = new[] { Tags("B-PER I-PER O B-LOC O B-ORG I-ORG") };
        var predicted = new[] { Tags("B-PER O O B-LOC O B-MISC I-MISC") };
        var metrics = EntityMetrics.Compute(predicted, reference, 0.25);
        Assert.Equal(1.0 / 3, metrics.Precision, 12);
        Assert.Equal(1.0 / 3, metrics.Recall, 12);
        Assert.Equal(1.0 / 3, metrics.F1, 12);
        Assert.Equal(4.0 / 7, metrics.Accuracy, 12);
        Assert.Equal(1.0, metrics.F1PerType["LOC"]);
        Assert.Equal(0.0, metrics.F1PerType["PER"]);
        Assert.Equal(0.0, metrics.F1PerType["MISC"]);
    }

    [Fact]
    public void Micro_averaging_pools_entities_across_sentences()
    {
        // Sentence 1: 2 reference, 2 predicted, 2 hits. Sentence 2: 1 reference, 2 predicted, 1 hit.
        // Precision 3/4, recall 3/3, F1 = 2·0.75/1.75 = 6/7.
        var metrics = EntityMetrics.Compute(
            [Tags("B-PER O B-LOC"), Tags("B-ORG O B-PER")],
            [Tags("B-PER O B-LOC"), Tags("B-ORG O O")], 0);
        Assert.Equal(0.75, metrics.Precision, 12);
        Assert.Equal(1.0, metrics.Recall, 12);
        Assert.Equal(6.0 / 7, metrics.F1, 12);
    }

    [Fact]
    public void Sequences_of_different_lengths_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => EntityMetrics.Compute([Tags("O O")], [Tags("O")], 0));
    }
}
