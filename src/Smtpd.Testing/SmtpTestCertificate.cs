using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Smtpd.Testing;

/// <summary>
/// Self-signed certificates for test servers, made in process with <see cref="CertificateRequest"/>, and a
/// certificate validation callback that trusts exactly them.
/// </summary>
/// <remarks>
/// Clients refuse a self-signed certificate by default. Rather than turning validation off, hand the client
/// <see cref="Validate"/> (or a server's <see cref="SmtpTestServer.ValidateServerCertificate"/>): it accepts a
/// certificate made here, or one that passes the normal checks, and nothing else.
/// </remarks>
public static class SmtpTestCertificate
{
    private static readonly ConcurrentDictionary<string, bool> Issued = new(StringComparer.Ordinal);
    private static readonly Lazy<X509Certificate2> SharedCertificate = new(() => Create("localhost"));

    /// <summary>
    /// The certificate every test server uses unless told otherwise: made once per process for <c>localhost</c>,
    /// <c>127.0.0.1</c> and <c>::1</c>, valid from yesterday for 30 days, with its private key.
    /// </summary>
    public static X509Certificate2 Shared => SharedCertificate.Value;

    /// <summary>Makes a self-signed TLS server certificate (ECDSA P-256) with its private key.</summary>
    /// <param name="hostName">The DNS name it is for; <c>localhost</c>, <c>127.0.0.1</c> and <c>::1</c> are always included too.</param>
    /// <returns>The certificate; the caller disposes it.</returns>
    public static X509Certificate2 Create(string hostName = "localhost")
    {
        ArgumentException.ThrowIfNullOrEmpty(hostName);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostName}, O=Smtpd.Testing", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(hostName);
        if (!hostName.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            names.AddDnsName("localhost");
        }

        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        // A round trip through PKCS#12 gives a persisted key that every platform's TLS stack can use.
        var certificate = X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), password: null);
        Issued[certificate.GetCertHashString(HashAlgorithmName.SHA256)] = true;
        return certificate;
    }

    /// <summary>Whether <paramref name="certificate"/> was made by <see cref="Create"/> in this process.</summary>
    /// <param name="certificate">The certificate a server presented.</param>
    /// <returns><see langword="true"/> for a test certificate.</returns>
    public static bool IsTestCertificate(X509Certificate? certificate) =>
        certificate is not null && Issued.ContainsKey(Hash(certificate));

    /// <summary>
    /// A <see cref="RemoteCertificateValidationCallback"/> that accepts the test certificates made in this process
    /// and any certificate that passes the normal checks. Safe to install process-wide, for example in
    /// <c>ServicePointManager.ServerCertificateValidationCallback</c> for System.Net.Mail.
    /// </summary>
    /// <param name="sender">The TLS stream or client.</param>
    /// <param name="certificate">The server's certificate.</param>
    /// <param name="chain">Its chain.</param>
    /// <param name="sslPolicyErrors">What the normal checks found.</param>
    /// <returns>Whether to trust the server.</returns>
    public static bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors sslPolicyErrors) =>
        sslPolicyErrors == SslPolicyErrors.None || IsTestCertificate(certificate);

    internal static string Hash(X509Certificate certificate) => certificate.GetCertHashString(HashAlgorithmName.SHA256);
}
