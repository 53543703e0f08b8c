using System.Net;
using ExperimentGrid.Core.Data;
using ExperimentGrid.Core.Import;
using ExperimentGrid.Grains;
using ExperimentGrid.Runtime.Slots;

namespace ExperimentGrid.Runtime.Hosting;

/// <summary>How a silo runs: its store, slots, checkpoint directory, ports and cluster.</summary>
public sealed record SiloOptions
{
    /// <summary>A PostgreSQL connection string: cluster membership, grain state and reminders live there.</summary>
    public string? Postgres { get; init; }

    /// <summary>Without <see cref="Postgres"/>: the directory of the embedded store (a one-silo cluster).</summary>
    public string StateDirectory { get; init; } = InHome("state");

    public SiloSlots Slots { get; init; } = SiloSlots.Detect();

    /// <summary>Where trials checkpoint; in a cluster, a directory every silo reaches at the same path.</summary>
    public string CheckpointDirectory { get; init; } = InHome("checkpoints");

    /// <summary>Where trials share tokenized data and frozen-prefix activations; in a cluster, best one every silo reaches.</summary>
    public string CacheDirectory { get; init; } = Core.Caching.WorkCache.DefaultRoot;

    /// <summary>The cache's size limit in bytes; above it, the least recently used entries go.</summary>
    public long CacheMaxBytes { get; init; } = Core.Caching.WorkCache.DefaultMaxBytes;

    /// <summary>Where sweeps' datasets are: $EXPERIMENTGRID_DATA, else ../shared/datasets beside the repository.</summary>
    public string DataRoot { get; init; } = DatasetLocator.DefaultDataRoot();

    /// <summary>Directories sweeps may take models from, besides the checkpoints: the bundled models' import cache.</summary>
    public IReadOnlyList<string> ModelRoots { get; init; } = [BundledModels.CacheRoot];

    /// <summary>How long a trial stays its slot's without a heartbeat; after that, another silo resumes it.</summary>
    public TimeSpan LeaseDuration { get; init; } = new GridOptions().LeaseDuration;

    /// <summary>The Orleans dashboard under /orleans on the HTTP port (silos, grains, calls and their latency, reminders).</summary>
    public bool OrleansDashboard { get; init; } = true;

    public int SiloPort { get; init; } = 11111;
    public int GatewayPort { get; init; } = 30000;

    /// <summary>The port of /metrics, /healthz, the JSON API and the dashboard; 0 takes any free port.</summary>
    public int HttpPort { get; init; } = 8080;

    /// <summary>Whether the HTTP port serves the sweep dashboard at / (the JSON API stays either way).</summary>
    public bool Dashboard { get; init; } = true;

    public string ClusterId { get; init; } = "experimentgrid";
    public string ServiceId { get; init; } = "experimentgrid";

    /// <summary>
    /// With <see cref="Postgres"/>: the address other silos and clients reach this one at. When null, Orleans picks
    /// one from this host's network interfaces. The embedded store's silo is always on loopback.
    /// </summary>
    public IPAddress? Address { get; init; }

    /// <summary>
    /// With <see cref="Postgres"/>: the silo runs in a Kubernetes pod (deploy/kubernetes). Its name and advertised
    /// address are the pod's (POD_NAME, POD_NAMESPACE and POD_IP, from the downward API), and silos whose pods are gone
    /// are declared dead without waiting for the membership probes.
    /// </summary>
    public bool Kubernetes { get; init; }

    /// <summary>When set, silo-to-silo and client-to-gateway connections use TLS with mutual authentication.</summary>
    public ClusterTls? Tls { get; init; }

    /// <summary>$EXPERIMENTGRID_HOME/NAME, else ~/.local/share/experimentgrid/NAME.</summary>
    private static string InHome(string name)
    {
        var home = Environment.GetEnvironmentVariable("EXPERIMENTGRID_HOME");
        return Path.Combine(
            string.IsNullOrEmpty(home) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "experimentgrid") : home,
            name);
    }
}
