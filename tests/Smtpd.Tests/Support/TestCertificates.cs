using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Smtpd.Tests.Support;

/// <summary>Self-signed certificates made inside the tests with <see cref="CertificateRequest"/>.</summary>
public static class TestCertificates
{
    private static readonly Lazy<X509Certificate2> LocalhostCertificate = new(() => Create("localhost"));

    /// <summary>A shared certificate for "localhost".</summary>
    public static X509Certificate2 Localhost => LocalhostCertificate.Value;

    /// <summary>Creates a self-signed server certificate for <paramref name="name"/>, with a private key usable by SslStream.</summary>
    public static X509Certificate2 Create(string name, bool clientAuthentication = false)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(clientAuthentication ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        // A round trip through PKCS#12 gives a key that every platform's TLS stack can use.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);
    }
}
