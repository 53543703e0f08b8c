using System.CommandLine;
using System.Net;
using ExperimentGrid.Grid.Tests.TestGrains;
using ExperimentGrid.Runtime.Hosting;
using ExperimentGrid.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.Connections.Security;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// A silo started with --tls-certificate and --tls-ca serves only clients whose certificates its CA signed. The refused
/// clients accept any silo certificate themselves, so a refusal can only be the silo's.
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class TlsTests(TlsTests.TlsSilo silo) : IClassFixture<TlsTests.TlsSilo>
{
    [Fact]
    public async Task A_client_with_a_certificate_of_the_clusters_CA_calls_a_grain()
    {
        using var client = await ConnectAsync(client => client.UseTls(new ClusterTls(silo.Files.ClientPfx, silo.Files.AuthorityPem).Load()));

        var note = client.Services.GetRequiredService<IClusterClient>().GetGrain<INoteGrain>("over-tls");
        await note.WriteAsync("sent over mutual TLS");

        Assert.Equal("sent over mutual TLS", await note.ReadAsync());
    }

    [Fact]
    public async Task A_client_without_TLS_is_refused() =>
        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync(_ => { }));

    [Fact]
    public async Task A_TLS_client_without_a_certificate_is_refused() =>
        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync(client => client.UseTls(options =>
        {
            options.LocalCertificate = null;
            options.AllowAnyRemoteCertificate();
        })));

    [Fact]
    public async Task A_client_with_a_certificate_of_another_CA_is_refused()
    {
        using var rogue = TestCertificates.Issue(TestCertificates.Authority("rogue-ca"), "rogue-client");

        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync(client => client.UseTls(options =>
        {
            options.LocalCertificate = rogue;
            options.AllowAnyRemoteCertificate();
        })));
    }

    [PostgresFact]
    public async Task Silos_with_certificates_of_the_CA_form_one_cluster_and_a_silo_of_another_CA_cannot_join()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        using var directory = new TemporaryDirectory();
        var files = TestCertificates.Write(Directory.CreateDirectory(Path.Combine(directory.Path, "cluster")).FullName);
        var rogueFiles = TestCertificates.Write(Directory.CreateDirectory(Path.Combine(directory.Path, "rogue")).FullName);
        var first = Silos.Options(Path.Combine(directory.Path, "1"), postgres: database.ConnectionString) with
        {
            Tls = new ClusterTls(files.SiloPem, files.AuthorityPem, files.SiloKeyPem),
        };
        var second = Silos.Options(Path.Combine(directory.Path, "2"), postgres: database.ConnectionString) with
        {
            ClusterId = first.ClusterId,
            ServiceId = first.ServiceId,
            Tls = first.Tls,
        };

        await using var one = await Silos.StartAsync(first);
        await using var two = await Silos.StartAsync(second);
        // A joining silo must reach every active one before it turns active itself, over TLS both ways.
        Assert.Equal(2, one.Services.GetRequiredService<ISiloStatusOracle>().GetApproximateSiloStatuses(onlyActive: true).Count);

        // In a process of its own: the cluster declares it dead, and Orleans then ends the process it runs in.
        using var rogue = SiloProcess.Start(new SiloLaunch(SiloExecutable.Silo,
            [.. SiloLaunch.PostgresArguments(database.ConnectionString, first.ClusterId), "--slots", "cpu:1", "--checkpoints", Path.Combine(directory.Path, "rogue-checkpoints"),
                "--tls-certificate", rogueFiles.SiloPem, "--tls-key", rogueFiles.SiloKeyPem, "--tls-ca", rogueFiles.AuthorityPem],
            Directory.CreateDirectory(Path.Combine(directory.Path, "logs")).FullName));
        var refused = await Assert.ThrowsAsync<SiloProcessException>(() => rogue.WaitHealthyAsync(TimeSpan.FromSeconds(90)));
        Assert.Contains("exited", refused.Message, StringComparison.Ordinal);
        Assert.Equal(2, one.Services.GetRequiredService<ISiloStatusOracle>().GetApproximateSiloStatuses(onlyActive: true).Count);
        await two.StopAsync();
        await one.StopAsync();
    }

    [Fact]
    public void The_same_flags_are_refused_unless_they_come_together()
    {
        var command = SiloCommand.Configure(new RootCommand());

        Assert.Contains(command.Parse(["--tls-certificate", "silo.pfx"]).Errors, e => e.Message.StartsWith("--tls-ca: needed with --tls-certificate", StringComparison.Ordinal));
        Assert.Contains(command.Parse(["--tls-ca", "ca.pem"]).Errors, e => e.Message.StartsWith("--tls-certificate: needed with --tls-ca", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_missing_certificate_file_stops_the_silo_with_one_line_naming_the_flag_and_file()
    {
        var missing = Path.Combine(silo.Files.Directory, "missing.pfx");

        var (exitCode, error) = await RunSiloAsync("--tls-certificate", missing, "--tls-ca", silo.Files.AuthorityPem);

        Assert.Equal(2, exitCode);
        Assert.StartsWith($"error: --tls-certificate: {missing}: cannot read the file", error);
        Assert.Single(error.TrimEnd().Split('\n'));
    }

    [Fact]
    public async Task A_certificate_another_CA_signed_stops_the_silo_before_it_starts()
    {
        var otherAuthority = Path.Combine(silo.Files.Directory, "other-ca.pem");
        using (var other = TestCertificates.Authority("other-ca")) await File.WriteAllTextAsync(otherAuthority, other.ExportCertificatePem());

        var (exitCode, error) = await RunSiloAsync("--tls-certificate", silo.Files.ClientPfx, "--tls-ca", otherAuthority);

        Assert.Equal(2, exitCode);
        Assert.StartsWith($"error: --tls-certificate: {silo.Files.ClientPfx}: not signed by the certificate authority in --tls-ca {otherAuthority}", error);
    }

    [Fact]
    public async Task A_CA_file_that_is_not_a_certificate_is_named()
    {
        var garbage = Path.Combine(silo.Files.Directory, "garbage.pem");
        await File.WriteAllTextAsync(garbage, "not a certificate");

        var (exitCode, error) = await RunSiloAsync("--tls-certificate", silo.Files.ClientPfx, "--tls-ca", garbage);

        Assert.Equal(2, exitCode);
        Assert.StartsWith($"error: --tls-ca: {garbage}: not a PEM or DER certificate", error);
    }

    private async Task<(int ExitCode, string Error)> RunSiloAsync(params string[] tls)
    {
        using var error = new StringWriter();
        string[] args = [.. tls, "--checkpoints", Path.Combine(silo.Files.Directory, "checkpoints"), "--state", Path.Combine(silo.Files.Directory, "unused-state"),
            "--http-port", "0", "--silo-port", $"{GridSilo.FreePort()}", "--gateway-port", $"{GridSilo.FreePort()}"];
        var exitCode = await SiloCommand.Configure(new RootCommand()).Parse(args).InvokeAsync(new InvocationConfiguration { Error = error });
        return (exitCode, error.ToString());
    }

    /// <summary>A client of the TLS silo's gateway that gives up at the first refusal instead of retrying for minutes.</summary>
    private async Task<IHost> ConnectAsync(Action<IClientBuilder> tls)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (silo.Options.ClusterId, silo.Options.ServiceId));
            client.UseStaticClustering(new IPEndPoint(IPAddress.Loopback, silo.Options.GatewayPort));
            client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
            tls(client);
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync();
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    /// <summary>One silo with mutual TLS for the whole class, on certificates made for it.</summary>
    public sealed class TlsSilo : IAsyncLifetime
    {
        private readonly TemporaryDirectory _directory = new();
        private WebApplication? _silo;

        public TestCertificates.Files Files { get; private set; } = null!;
        public ExperimentGrid.Runtime.Hosting.SiloOptions Options { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Files = TestCertificates.Write(_directory.Path);
            Options = Silos.Options(_directory.Path) with { Tls = new ClusterTls(Files.SiloPem, Files.AuthorityPem, Files.SiloKeyPem) };
            _silo = await Silos.StartAsync(Options);
        }

        public async Task DisposeAsync()
        {
            if (_silo is not null)
            {
                await _silo.StopAsync();
                await _silo.DisposeAsync();
            }
            _directory.Dispose();
        }
    }
}
