using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.Runtime.Slots;
using YamlDotNet.RepresentationModel;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// deploy/kubernetes agrees with itself, with Orleans' Kubernetes hosting and with the silo: no Kubernetes cluster
/// runs here, so these read the manifests, parse the silo's arguments with the silo's own parser, and let kubectl
/// build and client-side apply them against a stand-in API server that only answers discovery.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string Directory = DeployFiles.Path("deploy", "kubernetes");

    [Fact]
    public void The_kustomization_lists_every_manifest()
    {
        var kustomization = DeployFiles.Yaml("deploy", "kubernetes", "kustomization.yaml");
        var manifests = System.IO.Directory.EnumerateFiles(Directory, "*.yaml").Select(System.IO.Path.GetFileName).Where(f => f != "kustomization.yaml");

        Assert.Equal(manifests.Order(), kustomization.Scalars("resources").Order());
    }

    [Fact]
    public void Silo_pods_request_a_gpu_per_slot_and_run_the_silo_on_kubernetes_hosting_with_postgres_from_a_secret()
    {
        var deployment = Object("Deployment", "experimentgrid-silo");
        var pod = deployment.Map("spec").Map("template");
        var container = Assert.Single(pod.Map("spec").Sequence("containers").Cast<YamlMappingNode>());
        var env = Env(container);
        var args = Arguments(container, env);

        var parse = SiloCommand.Configure(new RootCommand()).Parse(args);
        Assert.True(parse.Errors.Count == 0, string.Join("; ", parse.Errors.Select(e => e.Message)));
        Assert.Contains("--kubernetes", args);
        // The connection string is the Secret's, through the environment: never in the manifest.
        Assert.Equal("$(EXPERIMENTGRID_POSTGRES)", Flag(container.Scalars("args"), "--postgres"));
        var secret = env["EXPERIMENTGRID_POSTGRES"].Map("valueFrom").Map("secretKeyRef");
        Assert.Equal("experimentgrid-postgres", secret.Scalar("name"));
        Assert.Equal("connection-string", secret.Scalar("key"));
        // What Orleans' Kubernetes hosting reads, from the downward API.
        var fieldPaths = new Dictionary<string, string> { ["POD_NAME"] = "metadata.name", ["POD_NAMESPACE"] = "metadata.namespace", ["POD_IP"] = "status.podIP" };
        Assert.Equal(GridSilo.PodVariables.Order(), fieldPaths.Keys.Order());
        Assert.All(fieldPaths, v => Assert.Equal(v.Value, env[v.Key].Map("valueFrom").Map("fieldRef").Scalar("fieldPath")));

        // One GPU per pod, and the pod's slots are exactly its GPUs, as CUDA numbers them inside the pod.
        var gpus = int.Parse(container.Map("resources").Map("limits").Scalar("nvidia.com/gpu"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(gpus >= 1);
        Assert.Equal(Enumerable.Range(0, gpus).Select(i => new Slot(SlotKind.Gpu, i)), SiloSlots.Parse(Flag(args, "--slots")).All);

        // Orleans' Kubernetes hosting finds the cluster's pods by these labels, and the silo's ids must be theirs.
        var labels = pod.Map("metadata").Map("labels");
        Assert.Equal(Flag(args, "--service-id"), labels.Scalar("orleans/serviceId"));
        Assert.Equal(Flag(args, "--cluster-id"), labels.Scalar("orleans/clusterId"));
        Assert.All(deployment.Map("spec").Map("selector").Map("matchLabels").Children, l => Assert.Equal(l.Value.ToString(), labels.Scalar(l.Key.ToString())));
    }

    [Fact]
    public void Silo_pods_checkpoint_to_a_shared_volume_and_expose_the_gateway_metrics_and_health_on_the_silo_s_ports()
    {
        var pod = Object("Deployment", "experimentgrid-silo").Map("spec").Map("template");
        var container = Assert.Single(pod.Map("spec").Sequence("containers").Cast<YamlMappingNode>());
        var args = Arguments(container, Env(container));
        var ports = container.Sequence("ports").Cast<YamlMappingNode>().ToDictionary(p => p.Scalar("name"), p => p.Scalar("containerPort"));
        var httpPort = Flag(args, "--http-port");

        Assert.Equal(Flag(args, "--silo-port"), ports["silo"]);
        Assert.Equal(Flag(args, "--gateway-port"), ports["gateway"]);
        Assert.Equal(httpPort, ports["http"]);

        // Checkpoints: every silo, on any node, reads and writes one ReadWriteMany volume at the --checkpoints path.
        var mounts = container.Sequence("volumeMounts").Cast<YamlMappingNode>().ToDictionary(m => m.Scalar("mountPath"));
        var volumes = pod.Map("spec").Sequence("volumes").Cast<YamlMappingNode>().ToDictionary(v => v.Scalar("name"));
        var checkpoints = Claim(volumes[mounts[Flag(args, "--checkpoints")].Scalar("name")]);
        Assert.Contains("ReadWriteMany", checkpoints.Map("spec").Scalars("accessModes"));
        Assert.False(mounts[Flag(args, "--checkpoints")].Has("readOnly"));
        var datasets = mounts[Flag(args, "--data-root")];
        Assert.Equal("true", datasets.Scalar("readOnly"));
        Assert.Contains("ReadWriteMany", Claim(volumes[datasets.Scalar("name")]).Map("spec").Scalars("accessModes"));

        // Prometheus scrapes /metrics on the silo's HTTP port.
        var annotations = pod.Map("metadata").Map("annotations");
        Assert.Equal("true", annotations.Scalar("prometheus.io/scrape"));
        Assert.Equal(httpPort, annotations.Scalar("prometheus.io/port"));
        Assert.Equal("/metrics", annotations.Scalar("prometheus.io/path"));
        // The probes ask /healthz, on the port that serves it.
        foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
        {
            var get = container.Map(probe).Map("httpGet");
            Assert.Equal("/healthz", get.Scalar("path"));
            Assert.Equal("http", get.Scalar("port"));
        }

        // The gateway Service reaches the silos' --gateway-port.
        var service = Object("Service", "experimentgrid-gateway").Map("spec");
        var port = Assert.Single(service.Sequence("ports").Cast<YamlMappingNode>());
        Assert.Equal(Flag(args, "--gateway-port"), port.Scalar("port"));
        Assert.Equal("gateway", port.Scalar("targetPort"));
        var labels = pod.Map("metadata").Map("labels");
        Assert.All(service.Map("selector").Children, l => Assert.Equal(l.Value.ToString(), labels.Scalar(l.Key.ToString())));
    }

    [Fact]
    public void The_silo_s_service_account_may_read_watch_label_and_delete_pods()
    {
        var account = Object("Deployment", "experimentgrid-silo").Map("spec").Map("template").Map("spec").Scalar("serviceAccountName");
        var binding = Object("RoleBinding", account);
        var role = Object(binding.Map("roleRef").Scalar("kind"), binding.Map("roleRef").Scalar("name"));

        Assert.Equal("ServiceAccount", Object("ServiceAccount", account).Scalar("kind"));
        Assert.Contains(binding.Sequence("subjects").Cast<YamlMappingNode>(), s => s.Scalar("kind") == "ServiceAccount" && s.Scalar("name") == account);
        var rule = Assert.Single(role.Sequence("rules").Cast<YamlMappingNode>(), r => r.Scalars("resources").Contains("pods"));
        Assert.Equal([""], rule.Scalars("apiGroups"));
        // get and patch: the hosting labels its own pod; list and watch: it follows the cluster's pods; delete: pods of dead silos.
        Assert.Superset(new HashSet<string> { "get", "list", "watch", "patch", "delete" }, rule.Scalars("verbs").ToHashSet());
    }

    [KubectlFact]
    public async Task Kubectl_builds_the_kustomization_and_applies_it_client_side()
    {
        using var home = new TemporaryDirectory();
        await using var api = DiscoveryOnlyApiServer.Start();
        var kubeconfig = System.IO.Path.Combine(home.Path, "kubeconfig");
        File.WriteAllText(kubeconfig, $"""
            apiVersion: v1
            kind: Config
            clusters:
              - name: stand-in
                cluster:
                  server: {api.Address}
            users:
              - name: stand-in
                user:
                  token: stand-in
            contexts:
              - name: stand-in
                context:
                  cluster: stand-in
                  user: stand-in
                  namespace: experimentgrid
            current-context: stand-in
            """);
        var kubectl = KubectlFactAttribute.Kubectl ?? throw new InvalidOperationException("CI=true and no kubectl on PATH: .ci/run installs Debian's kubernetes-client.");

        var (buildExit, built) = DeployFiles.Run(kubectl, "kustomize", Directory);
        // --validate=false: validation downloads the server's OpenAPI schema, which the stand-in does not have.
        var (applyExit, applied) = DeployFiles.Run(kubectl, "--kubeconfig", kubeconfig, "--cache-dir", System.IO.Path.Combine(home.Path, "cache"),
            "apply", "-k", Directory, "--dry-run=client", "--validate=false");

        Assert.True(buildExit == 0, $"kubectl kustomize: {built}");
        Assert.True(applyExit == 0, $"kubectl apply --dry-run=client: {applied}");
        var objects = DeployFiles.YamlDocumentsOf(built).Select(o => $"{o.Scalar("kind")}/{o.Map("metadata").Scalar("name")}").ToList();
        Assert.Equal(Objects().Select(o => $"{o.Scalar("kind")}/{o.Map("metadata").Scalar("name")}").Order(), objects.Order());
        Assert.Equal(objects.Count, applied.Split('\n').Count(l => l.Contains("(dry run)", StringComparison.Ordinal)));
    }

    private static List<YamlMappingNode> Objects() =>
        [.. System.IO.Directory.EnumerateFiles(Directory, "*.yaml").Where(f => System.IO.Path.GetFileName(f) != "kustomization.yaml").SelectMany(DeployFiles.YamlDocuments)];

    private static YamlMappingNode Object(string kind, string name) =>
        Assert.Single(Objects(), o => o.Scalar("kind") == kind && o.Map("metadata").Scalar("name") == name);

    private static YamlMappingNode Claim(YamlMappingNode volume) => Object("PersistentVolumeClaim", volume.Map("persistentVolumeClaim").Scalar("claimName"));

    private static Dictionary<string, YamlMappingNode> Env(YamlMappingNode container) =>
        container.Sequence("env").Cast<YamlMappingNode>().ToDictionary(e => e.Scalar("name"));

    /// <summary>The container's arguments as the silo receives them: Kubernetes expands $(NAME) from the container's environment.</summary>
    private static string[] Arguments(YamlMappingNode container, Dictionary<string, YamlMappingNode> env) =>
        [.. container.Scalars("args").Select(a => System.Text.RegularExpressions.Regex.Replace(a, @"\$\((\w+)\)", m =>
            env.ContainsKey(m.Groups[1].Value) ? $"Host=from-secret-{m.Groups[1].Value}" : m.Value))];

    private static string Flag(IReadOnlyList<string> args, string name)
    {
        var index = args.ToList().IndexOf(name);
        Assert.True(index >= 0 && index + 1 < args.Count, $"the silo's args have no {name}: {string.Join(' ', args)}");
        return args[index + 1];
    }

    /// <summary>
    /// Just enough of a Kubernetes API server for a client-side apply: discovery of the kinds the manifests use, and
    /// 404 for every object, which kubectl reads as "not there yet".
    /// </summary>
    private sealed class DiscoveryOnlyApiServer : IAsyncDisposable
    {
        private static readonly Dictionary<string, object> Responses = new()
        {
            ["/api"] = new { kind = "APIVersions", versions = new[] { "v1" }, serverAddressByClientCIDRs = new[] { new { clientCIDR = "0.0.0.0/0", serverAddress = "127.0.0.1" } } },
            ["/apis"] = new
            {
                kind = "APIGroupList",
                apiVersion = "v1",
                groups = new[] { "apps", "rbac.authorization.k8s.io" }.Select(g => new
                {
                    name = g,
                    versions = new[] { new { groupVersion = $"{g}/v1", version = "v1" } },
                    preferredVersion = new { groupVersion = $"{g}/v1", version = "v1" },
                }),
            },
            ["/api/v1"] = Resources("v1", ("serviceaccounts", "ServiceAccount"), ("services", "Service"), ("persistentvolumeclaims", "PersistentVolumeClaim"), ("secrets", "Secret")),
            ["/apis/apps/v1"] = Resources("apps/v1", ("deployments", "Deployment"), ("statefulsets", "StatefulSet")),
            ["/apis/rbac.authorization.k8s.io/v1"] = Resources("rbac.authorization.k8s.io/v1", ("roles", "Role"), ("rolebindings", "RoleBinding")),
        };

        private readonly HttpListener _listener;
        private readonly Task _serving;

        private DiscoveryOnlyApiServer(HttpListener listener, string address)
        {
            _listener = listener;
            Address = address;
            _serving = Task.Run(ServeAsync);
        }

        public string Address { get; }

        public static DiscoveryOnlyApiServer Start()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var address = $"http://127.0.0.1:{port}";
            var listener = new HttpListener();
            listener.Prefixes.Add($"{address}/");
            listener.Start();
            return new DiscoveryOnlyApiServer(listener, address);
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _serving;
            _listener.Close();
        }

        private static object Resources(string groupVersion, params (string Name, string Kind)[] resources) => new
        {
            kind = "APIResourceList",
            groupVersion,
            resources = resources.Select(r => new { name = r.Name, singularName = "", namespaced = true, kind = r.Kind, verbs = new[] { "create", "get", "list", "patch", "delete" } }),
        };

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }
                var found = Responses.TryGetValue(context.Request.Url!.AbsolutePath, out var body);
                var json = JsonSerializer.SerializeToUtf8Bytes(found ? body : new { kind = "Status", apiVersion = "v1", status = "Failure", reason = "NotFound", code = 404 });
                context.Response.StatusCode = found ? 200 : 404;
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(json);
                context.Response.Close();
            }
        }
    }
}

/// <summary>
/// A test that needs kubectl (on PATH). On a developer machine without it the test is skipped with the reason; under
/// CI (CI=true) it runs and fails, so that a CI run without kubectl cannot pass unnoticed. .ci/run installs Debian's
/// kubernetes-client.
/// </summary>
public sealed class KubectlFactAttribute : FactAttribute
{
    public static string? Kubectl { get; } = TestPrometheus.OnPath("kubectl");

    public KubectlFactAttribute()
    {
        if (Kubectl is null && !TestPostgres.UnderCi)
            Skip = "kubectl is not installed (`apt-get install kubernetes-client`, or .ci/run). Under CI=true this test fails instead of skipping.";
    }
}
