using ExperimentGrid.Contracts;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// The queue places a trial on a silo that holds its frozen prefix when that silo has a slot free, and elsewhere when
/// it has not: a preference, not a requirement. Queues other than the slots' (key 0) are driven here by hand.
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class PrefixAffinityTests(GridClusterFixture fixture) : IClassFixture<GridClusterFixture>
{
    private IWorkQueueGrain NewQueue() => fixture.Cluster.GrainFactory.GetGrain<IWorkQueueGrain>(Random.Shared.NextInt64(1, long.MaxValue));

    private static SlotClaim Slot(string silo, params string[] held) => new(silo, held);

    [Fact]
    public async Task A_free_slot_takes_first_the_trial_whose_prefix_its_silo_holds()
    {
        var queue = NewQueue();
        await queue.EnqueueAsync("s/t1", "family-a");
        await queue.EnqueueAsync("s/t2", "family-b");
        await queue.EnqueueAsync("s/t3");
        Assert.Equal("s/t2", await queue.ClaimAsync(Slot("silo-x", "family-b")));
        Assert.Equal("s/t1", await queue.ClaimAsync(Slot("silo-x", "family-b")));
        Assert.Equal("s/t3", await queue.ClaimAsync(Slot("silo-x", "family-b")));
        Assert.Null(await queue.ClaimAsync(Slot("silo-x", "family-b")));
    }

    [Fact]
    public async Task A_trial_waits_a_moment_for_the_silo_that_holds_its_prefix_while_that_silo_has_a_free_slot()
    {
        var queue = NewQueue();
        Assert.Null(await queue.ClaimAsync(Slot("silo-y", "family-a")));
        await queue.EnqueueAsync("s/t1", "family-a");
        await queue.EnqueueAsync("s/t2", "family-c");
        // silo-x holds nothing: it takes the trial nobody holds, and leaves family-a's to silo-y, which is asking.
        Assert.Equal("s/t2", await queue.ClaimAsync(Slot("silo-x")));
        Assert.Null(await queue.ClaimAsync(Slot("silo-x")));
        Assert.Equal("s/t1", await queue.ClaimAsync(Slot("silo-y", "family-a")));
    }

    [Fact]
    public async Task When_the_holder_stops_asking_another_silo_takes_the_trial()
    {
        var queue = NewQueue();
        Assert.Null(await queue.ClaimAsync(Slot("silo-y", "family-a")));
        await queue.EnqueueAsync("s/t1", "family-a");
        Assert.Null(await queue.ClaimAsync(Slot("silo-x")));
        // The fixture polls idle slots every 200 ms: silo-y, silent for 3 polls, has no slot free.
        await Task.Delay(TimeSpan.FromMilliseconds(800));
        Assert.Equal("s/t1", await queue.ClaimAsync(Slot("silo-x")));
    }
}
