using ExperimentGrid.Core.Sweeps;

namespace ExperimentGrid.Grains;

/// <summary>How the grid's grains and slots behave; a silo sets it from its flags, tests shorten the times.</summary>
public sealed class GridOptions
{
    /// <summary>Where sweeps may read data and models from, and where trials checkpoint (under CheckpointRoot).</summary>
    public SweepRoots Roots { get; set; } = new(Core.Data.DatasetLocator.DefaultDataRoot(), [], Path.GetTempPath());

    /// <summary>
    /// How long a running trial stays its slot's without a heartbeat. A silo that dies stops renewing it; the trial
    /// is re-queued once it runs out, so this bounds how long a killed silo's trials wait.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a running trial checks its lease, and a sweep its time budget.</summary>
    public TimeSpan LeaseCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The period of each active trial's reminder, which brings the trial back after its silo died and re-queues a
    /// waiting trial whose queue entry was lost. Orleans refuses reminders more frequent than a minute by default.
    /// </summary>
    public TimeSpan WatchPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How many of a sweep's trials wait in the queue ahead of the free slots: enough that a slot that frees up starts
    /// the next trial at once, few enough that trials are created only as they are about to run.
    /// </summary>
    public int QueueAhead { get; set; } = 4;

    /// <summary>How often a slot sends its trial's progress (and renews the lease).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often each silo re-reads the cluster's sweeps for /metrics.</summary>
    public TimeSpan MetricsRefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How many ended sweeps /metrics keeps showing, besides every running one (the latest to end).</summary>
    public int MetricsEndedSweeps { get; set; } = 20;

    /// <summary>Where trials share tokenized data and frozen-prefix activations; in a cluster, best a directory every silo reaches.</summary>
    public string CacheRoot { get; set; } = Core.Caching.WorkCache.DefaultRoot;

    /// <summary>The cache's size limit; above it, the least recently used entries are evicted.</summary>
    public long CacheMaxBytes { get; set; } = Core.Caching.WorkCache.DefaultMaxBytes;

    /// <summary>How long a silo counts as holding a frozen prefix it used, for placing the trials that need it.</summary>
    public TimeSpan PrefixAffinityWindow { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How long an idle slot waits before asking the queue again.</summary>
    public TimeSpan IdlePollInterval { get; set; } = TimeSpan.FromSeconds(1);
}
