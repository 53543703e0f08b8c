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

    /// <summary>How often a sweep looks for expired leases and lost queue entries.</summary>
    public TimeSpan LeaseCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a slot sends its trial's progress (and renews the lease).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often each silo re-reads the cluster's sweeps for /metrics.</summary>
    public TimeSpan MetricsRefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How many ended sweeps /metrics keeps showing, besides every running one (the latest to end).</summary>
    public int MetricsEndedSweeps { get; set; } = 20;

    /// <summary>How long an idle slot waits before asking the queue again.</summary>
    public TimeSpan IdlePollInterval { get; set; } = TimeSpan.FromSeconds(1);
}
