using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ExperimentGrid.TestSupport;

/// <summary>A throwaway certificate authority and the certificates it signs, as a cluster's operator would make them.</summary>
public static class TestCertificates
{
    public sealed record Files(string Directory, string AuthorityPem, string SiloPem, string SiloKeyPem, string ClientPfx);

    /// <summary>
    /// The CA as PEM; the silo's certificate as PEM with its key in a file of its own; the client's as a PKCS#12 file
    /// without a password. Both formats the flags take are read.
    /// </summary>
    public static Files Write(string directory)
    {
        using var authority = Authority("grid-test-ca");
        using var silo = Issue(authority, "grid-silo");
        using var client = Issue(authority, "grid-client");
        var files = new Files(directory, Path.Combine(directory, "ca.pem"), Path.Combine(directory, "silo.pem"), Path.Combine(directory, "silo.key"), Path.Combine(directory, "client.pfx"));
        File.WriteAllText(files.AuthorityPem, authority.ExportCertificatePem());
        File.WriteAllText(files.SiloPem, silo.ExportCertificatePem());
        File.WriteAllText(files.SiloKeyPem, silo.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllBytes(files.ClientPfx, client.Export(X509ContentType.Pkcs12));
        return files;
    }

    public static X509Certificate2 Authority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>A certificate for both ends of a connection: silos dial each other as well as serve.</summary>
    public static X509Certificate2 Issue(X509Certificate2 authority, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var signed = request.Create(authority, DateTimeOffset.UtcNow.AddMinutes(-30), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(16));
        return signed.CopyWithPrivateKey(key);
    }
}
