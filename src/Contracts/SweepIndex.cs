namespace ExperimentGrid.Contracts;

/// <summary>Every sweep submitted to the cluster, in submission order (key 0): what `grid sweep list` and the metrics read.</summary>
public interface ISweepIndexGrain : IGrainWithIntegerKey
{
    Task AddAsync(string sweepId);

    Task<IReadOnlyList<string>> ListAsync();
}
