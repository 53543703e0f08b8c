using System.CommandLine;
using System.CommandLine.Parsing;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace ExperimentGrid.Runtime.Hosting;

/// <summary>
/// Mutual TLS on a cluster's ports: this process's certificate (PKCS#12, or PEM with its key) and the certificate
/// authority every peer's certificate must chain to. Silos and clients present their certificates both ways, and a
/// peer whose certificate the authority did not sign is refused before it can send a message.
/// </summary>
/// <param name="CertificatePath">A .pfx/.p12 file, or a PEM file holding the certificate (and its key, unless <paramref name="KeyPath"/>).</param>
/// <param name="AuthorityPath">PEM or DER: the CA certificate (and any intermediates) peers' certificates must chain to.</param>
/// <param name="KeyPath">With a PEM certificate: its private key, when it is in a file of its own.</param>
public sealed record ClusterTls(string CertificatePath, string AuthorityPath, string? KeyPath = null)
{
    /// <summary>The password of the certificate's file or key, if it has one; a flag would leave it in logs and `ps`.</summary>
    public const string PasswordVariable = "EXPERIMENTGRID_TLS_PASSWORD";

    public const string CertificateFlag = "--tls-certificate";
    public const string AuthorityFlag = "--tls-ca";
    public const string KeyFlag = "--tls-key";

    /// <summary>Reads both files and returns the Orleans TLS settings that enforce them.</summary>
    /// <exception cref="InvalidDataException">A file is missing or unreadable, or the certificate is not the authority's; the message names the flag and file.</exception>
    public Action<TlsOptions> Load()
    {
        var authority = LoadAuthority();
        var certificate = LoadCertificate();
        if (!Chains(certificate, authority, presented: null))
            throw new InvalidDataException($"{CertificateFlag}: {CertificatePath}: not signed by the certificate authority in {AuthorityFlag} {AuthorityPath}; peers would refuse it.");
        return options =>
        {
            options.LocalCertificate = certificate;
            options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
            // The platform's verdict is ignored on purpose: it trusts the system's roots, not the cluster's CA, and
            // checks host names, while silos and clients reach each other by IP. Being signed by the CA is the identity.
            options.RemoteCertificateValidation = (remote, chain, _) => Chains(remote, authority, chain);
        };
    }

    /// <summary>The --tls-certificate, --tls-ca and --tls-key flags on <paramref name="command"/>; <paramref name="who"/> is "silo" or "client".</summary>
    public static Func<ParseResult, ClusterTls?> AddFlags(Command command, string who)
    {
        var certificate = new Option<string>(CertificateFlag)
        {
            Description = $"Mutual TLS on the cluster's ports: this {who}'s certificate, a .pfx/.p12 file or PEM with its private key " +
                          $"(password, if any, in ${PasswordVariable}). Needs {AuthorityFlag}.",
        };
        var authority = new Option<string>(AuthorityFlag)
        {
            Description = $"With {CertificateFlag}: the CA certificate (PEM or DER) that every silo's and client's certificate must chain to; others are refused.",
        };
        var key = new Option<string>(KeyFlag) { Description = $"With a PEM {CertificateFlag}: its private key, if not in the same file." };
        command.Options.Add(certificate);
        command.Options.Add(authority);
        command.Options.Add(key);
        command.Validators.Add(result =>
        {
            var hasCertificate = result.GetResult(certificate) is not null;
            var hasAuthority = result.GetResult(authority) is not null;
            if (hasCertificate && !hasAuthority) result.AddError($"{AuthorityFlag}: needed with {CertificateFlag}, to check the certificates of the cluster's other members.");
            if (hasAuthority && !hasCertificate) result.AddError($"{CertificateFlag}: needed with {AuthorityFlag}; the cluster's TLS is mutual, so this {who} needs a certificate of its own.");
            if (result.GetResult(key) is not null && !hasCertificate) result.AddError($"{KeyFlag}: only used with {CertificateFlag}.");
        });
        return parse => parse.GetValue(certificate) is { } path
            ? new ClusterTls(Path.GetFullPath(path), Path.GetFullPath(parse.GetValue(authority)!), parse.GetValue(key) is { } k ? Path.GetFullPath(k) : null)
            : null;
    }

    private X509Certificate2 LoadCertificate()
    {
        var password = Environment.GetEnvironmentVariable(PasswordVariable);
        var bytes = Read(CertificateFlag, CertificatePath);
        if (KeyPath is not null) Read(KeyFlag, KeyPath);
        X509Certificate2 certificate;
        try
        {
            if (IsPem(bytes))
            {
                var keyPath = KeyPath ?? CertificatePath;
                certificate = File.ReadAllText(keyPath).Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal)
                    ? X509Certificate2.CreateFromEncryptedPemFile(CertificatePath, password ?? "", keyPath)
                    : X509Certificate2.CreateFromPemFile(CertificatePath, keyPath);
            }
            else
            {
                if (KeyPath is not null) throw new InvalidDataException($"{KeyFlag}: {KeyPath}: only used with a PEM certificate; a PKCS#12 file carries its own key.");
                certificate = X509CertificateLoader.LoadPkcs12(bytes, password);
            }
        }
        catch (CryptographicException e)
        {
            throw new InvalidDataException(
                $"{CertificateFlag}: {CertificatePath}: cannot read a certificate with its private key (a .pfx/.p12 file, or PEM with the key; " +
                $"a password goes in ${PasswordVariable}): {e.Message}", e);
        }
        if (!certificate.HasPrivateKey)
            throw new InvalidDataException($"{CertificateFlag}: {CertificatePath}: the certificate has no private key; TLS needs it to prove who this process is.");
        return certificate;
    }

    private X509Certificate2Collection LoadAuthority()
    {
        var bytes = Read(AuthorityFlag, AuthorityPath);
        var authority = new X509Certificate2Collection();
        try
        {
            if (IsPem(bytes)) authority.ImportFromPemFile(AuthorityPath);
            else authority.Add(X509CertificateLoader.LoadCertificate(bytes));
        }
        catch (CryptographicException e)
        {
            throw new InvalidDataException($"{AuthorityFlag}: {AuthorityPath}: not a PEM or DER certificate: {e.Message}", e);
        }
        if (authority.Count == 0) throw new InvalidDataException($"{AuthorityFlag}: {AuthorityPath}: no certificate in the file.");
        return authority;
    }

    private static bool Chains(X509Certificate2 certificate, X509Certificate2Collection authority, X509Chain? presented)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        foreach (var ca in authority)
        {
            // Only self-signed certificates anchor trust; intermediates in the file just help build the chain.
            if (ca.SubjectName.RawData.AsSpan().SequenceEqual(ca.IssuerName.RawData)) chain.ChainPolicy.CustomTrustStore.Add(ca);
            else chain.ChainPolicy.ExtraStore.Add(ca);
        }
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        }
        return chain.Build(certificate);
    }

    private static byte[] Read(string flag, string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{flag}: {path}: cannot read the file: {e.Message}", e);
        }
    }

    private static bool IsPem(byte[] bytes) => System.Text.Encoding.ASCII.GetString(bytes, 0, Math.Min(bytes.Length, 4096)).Contains("-----BEGIN ", StringComparison.Ordinal);
}
