using System.CommandLine;
using System.Net;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Slots;
using YamlDotNet.RepresentationModel;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// docker-compose.yml's gpu profile, the CUDA silo image, and the GPU half of Prometheus and Grafana. No Docker engine
/// and no GPU are here, so these read the files: the GPU silos' command lines parse with the silo's own parser, their
/// slots are the GPUs they reserve, and the dashboard's GPU queries name only what the DCGM exporter exports.
/// </summary>
public sealed class ComposeGpuProfileTests
{
    /// <summary>
    /// The fields dcgm-exporter exports by default: its etc/default-counters.csv (github.com/NVIDIA/dcgm-exporter),
    /// the counters file the exporter image runs with unless told otherwise. Commented-out lines there are left out.
    /// </summary>
    private static readonly HashSet<string> DcgmDefaultCounters =
    [
        "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK", "DCGM_FI_DEV_MEMORY_TEMP", "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "DCGM_FI_DEV_PCIE_TX_THROUGHPUT",
        "DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_ENC_UTIL", "DCGM_FI_DEV_DEC_UTIL", "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "DCGM_FI_DEV_VGPU_LICENSE_STATUS", "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    ];

    /// <summary>
    /// The labels dcgm-exporter puts on every GPU series (gpu is the host's GPU index), and silo, which
    /// deploy/prometheus/prometheus.yml adds; Prometheus adds instance and job.
    /// </summary>
    private static readonly HashSet<string> DcgmLabels = ["gpu", "UUID", "device", "modelName", "Hostname", "silo", "instance", "job"];

    [Fact]
    public void Gpu_silos_reserve_nvidia_gpus_and_take_one_slot_per_reserved_gpu()
    {
        var compose = DeployFiles.Compose();
        var cpuSilos = DeployFiles.Silos(compose);
        var gpuSilos = DeployFiles.Silos(compose, DeployFiles.GpuSiloDockerfile);
        var (subnet, dynamicRange) = DeployFiles.GridNetwork(compose);

        Assert.Equal(2, gpuSilos.Count);
        foreach (var silo in gpuSilos)
        {
            Assert.Equal(["gpu"], silo.Service.Scalars("profiles"));
            var parse = SiloCommand.Configure(new RootCommand()).Parse(silo.Command);
            Assert.True(parse.Errors.Count == 0, $"{silo.Name}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
            var device = Assert.Single(Reservations(silo.Service));
            Assert.Equal("nvidia", device.Scalar("driver"));
            Assert.Contains("gpu", device.Scalars("capabilities"));
            // A container sees its reserved GPUs, and only those, as cuda:0..n-1: its slots are those indices.
            var reserved = device.Scalars("device_ids");
            Assert.Equal(Enumerable.Range(0, reserved.Count).Select(i => new Slot(SlotKind.Gpu, i)), SiloSlots.Parse(silo.Flag("--slots")).All);
            // Same database, checkpoint volume and datasets as the CPU silos: one cluster, and trials resume across both kinds.
            Assert.Equal(cpuSilos[0].Flag("--postgres"), silo.Flag("--postgres"));
            Assert.Contains($"checkpoints:{silo.Flag("--checkpoints")}", silo.Volumes);
            Assert.Equal(cpuSilos[0].Flag("--checkpoints"), silo.Flag("--checkpoints"));
            Assert.Contains(silo.Volumes, v => v.EndsWith($":{silo.Flag("--data-root")}:ro", StringComparison.Ordinal));
            var address = IPAddress.Parse(silo.Flag("--address"));
            Assert.Equal(address.ToString(), silo.Service.Map("networks").Map("grid").Scalar("ipv4_address"));
            Assert.True(subnet.Contains(address) && !dynamicRange.Contains(address), $"{silo.Name}: --address {address} is not a fixed address of {subnet} outside {dynamicRange}");
            Assert.Equal("service_healthy", silo.Service.Map("depends_on").Map("postgres").Scalar("condition"));
        }
        // Two silos never share a GPU, an address or a host port.
        Assert.Equal(gpuSilos.Count, gpuSilos.SelectMany(s => Reservations(s.Service).SelectMany(d => d.Scalars("device_ids"))).Distinct().Count());
        var all = cpuSilos.Concat(gpuSilos).ToList();
        Assert.Equal(all.Count, all.Select(s => s.Flag("--address")).Distinct().Count());
        Assert.Equal(all.Count, all.SelectMany(s => s.Service.Scalars("ports")).Distinct().Count());
    }

    [Fact]
    public void The_dcgm_exporter_runs_in_the_gpu_profile_with_every_gpu_and_prometheus_maps_its_gpus_to_the_silos()
    {
        var compose = DeployFiles.Compose();
        var gpuSilos = DeployFiles.Silos(compose, DeployFiles.GpuSiloDockerfile);
        var exporter = compose.Map("services").Map("dcgm-exporter");

        Assert.Equal(["gpu"], exporter.Scalars("profiles"));
        Assert.StartsWith("nvcr.io/nvidia/k8s/dcgm-exporter:", exporter.Scalar("image"), StringComparison.Ordinal);
        var device = Assert.Single(Reservations(exporter));
        Assert.Equal("nvidia", device.Scalar("driver"));
        Assert.Equal("all", device.Scalar("count"));
        Assert.Contains("gpu", device.Scalars("capabilities"));

        Assert.Equal(gpuSilos.Select(s => $"{s.Name}:{s.HttpPort}").Order(), DeployFiles.Targets(DeployFiles.PrometheusJob("experimentgrid-gpu-silo")).Order());
        var dcgm = DeployFiles.PrometheusJob("dcgm");
        Assert.Equal(["dcgm-exporter:9400"], DeployFiles.Targets(dcgm));
        // Each relabel rule names the silo that reserves the GPU with that host index, and every GPU silo has one.
        var mapped = dcgm.Sequence("metric_relabel_configs").Cast<YamlMappingNode>()
            .Where(r => r.Scalar("target_label") == "silo")
            .Select(r => (Gpu: r.Scalar("regex"), Silo: r.Scalar("replacement"), Source: Assert.Single(r.Scalars("source_labels"))))
            .ToList();
        Assert.All(mapped, m => Assert.Equal("gpu", m.Source));
        var reserved = gpuSilos.SelectMany(s => Reservations(s.Service).SelectMany(d => d.Scalars("device_ids")).Select(gpu => (Gpu: gpu, Silo: s.Name)));
        Assert.Equal(reserved.Order(), mapped.Select(m => (m.Gpu, m.Silo)).Order());
    }

    [Fact]
    public void The_dashboard_shows_gpu_utilisation_memory_and_power_per_silo_from_documented_dcgm_fields()
    {
        var gpuQueries = DeployFiles.DashboardQueries().Where(q => DeployFiles.DcgmMetricNames(q.Expr).Count > 0).ToList();

        Assert.Superset(new HashSet<string> { "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_POWER_USAGE" },
            gpuQueries.SelectMany(q => DeployFiles.DcgmMetricNames(q.Expr)).ToHashSet());
        foreach (var query in gpuQueries)
        {
            Assert.All(DeployFiles.DcgmMetricNames(query.Expr), m => Assert.True(DcgmDefaultCounters.Contains(m), $"'{query.Expr}': {m} is not among dcgm-exporter's default counters"));
            Assert.Empty(DeployFiles.MetricNames(query.Expr));
            Assert.All(DeployFiles.LabelsUsed(query.Expr), l => Assert.True(DcgmLabels.Contains(l), $"'{query.Expr}': DCGM series have no label {l}"));
            // Per silo: the query keeps the silo label, and the legend shows it.
            var kept = DeployFiles.GroupedBy(query.Expr) ?? DcgmLabels;
            Assert.Contains("silo", kept);
            Assert.Contains("silo", DeployFiles.LegendLabels(query.Legend));
            Assert.All(DeployFiles.LegendLabels(query.Legend), l => Assert.True(kept.Contains(l), $"legend '{query.Legend}' of '{query.Expr}' names {l}, which the query does not keep"));
        }
    }

    [Fact]
    public void The_cuda_image_builds_the_cuda_backend_on_nvidia_s_runtime_and_runs_unprivileged_with_a_health_check()
    {
        var lines = File.ReadAllLines(DeployFiles.Path("deploy", "images", "silo-cuda.Dockerfile"))
            .Where(l => !l.TrimStart().StartsWith('#')).ToList();
        var text = string.Join('\n', lines);
        var stages = lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();

        // TorchSharp-cuda-linux 0.107.0 brings libtorch built for CUDA 12.8: the runtime stage is NVIDIA's CUDA 12.8.
        Assert.StartsWith("FROM nvidia/cuda:12.8.", stages[^1], StringComparison.Ordinal);
        // Every stage on Ubuntu 24.04: build/TorchSharpNative.targets needs no patch there, and .NET copies across.
        Assert.All(stages, s => Assert.True(s.Contains("-noble", StringComparison.Ordinal) || s.Contains("ubuntu24.04", StringComparison.Ordinal), s));
        // The CUDA backend in both the restore and the publish: restoring one backend and publishing another fails.
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(text, @"-p:TorchBackend=cuda\b"));
        Assert.Contains("libtorch_cuda.so", lines.Single(l => l.Contains("ldd ", StringComparison.Ordinal)));
        Assert.Matches(@"(?m)^USER \$APP_UID$", text);
        Assert.Matches($@"HEALTHCHECK[^\n]*\\?\n?[^\n]*http://127\.0\.0\.1:{new SiloOptions().HttpPort}/healthz", text);
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"ExperimentGrid.Silo.dll\"]", text);
    }

    [ComposeFact]
    public void Docker_compose_accepts_the_gpu_profile()
    {
        var compose = ComposeFactAttribute.Command!;
        var (exitCode, output) = DeployFiles.Run(compose[0], [.. compose[1..], "-f", DeployFiles.Path("docker-compose.yml"), "--profile", "gpu", "config"]);

        Assert.True(exitCode == 0, $"{string.Join(' ', compose)} --profile gpu config: {output}");
        Assert.Contains("silo-gpu-1:", output);
        Assert.Contains("dcgm-exporter:", output);
    }

    private static IEnumerable<YamlMappingNode> Reservations(YamlMappingNode service) =>
        service.Map("deploy").Map("resources").Map("reservations").Sequence("devices").Cast<YamlMappingNode>();
}
