using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MailKit.Net.Smtp;
using MailKit.Security;

namespace Smtpd.Cli.Tests;

/// <summary>STARTTLS, implicit TLS and the certificate flags.</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task RequireTlsRefusesMailInPlaintextAndTakesItAfterStartTlsWithTheSelfSignedCertificate()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--tls-self-signed", "--require-tls");
        var plain = await Assert.ThrowsAsync<MailKit.ServiceNotAuthenticatedException>(() => Mail.SendAsync(catcher.EndPoint, Mail.Simple()));
        Assert.Contains("5.7.0 Must issue a STARTTLS command first", plain.Message, StringComparison.Ordinal);

        X509Certificate2? seen = null;
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(), SecureSocketOptions.StartTls, configure: c => c.ServerCertificateValidationCallback = (_, cert, _, _) =>
        {
            seen = X509CertificateLoader.LoadCertificate(cert!.GetRawCertData());
            return true;
        });
        var e = await catcher.NextMessageAsync();
        Assert.True(e.GetProperty("tls").GetBoolean());
        Assert.NotNull(seen);
        Assert.Contains("localhost", seen.GetNameInfo(X509NameType.DnsName, false), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSelfSignedCertificateIsMadeOnceAndReusedByTheNextStart()
    {
        using var dir = new TestDirectory();
        string first;
        await using (var catcher = await CatcherProcess.StartAsync(dir, "--tls-self-signed"))
        {
            first = await ThumbprintAsync(catcher.EndPoint);
            Assert.Equal(0, await catcher.StopAsync());
        }

        await using (var again = await CatcherProcess.StartAsync(dir, "--tls-self-signed"))
        {
            Assert.Equal(first, await ThumbprintAsync(again.EndPoint));
        }

        Assert.True(File.Exists(dir.Combine("tls-self-signed.pfx")));
    }

    [Fact]
    public async Task SmtpsListensWithImplicitTlsBesideThePlainListener()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--listen", "127.0.0.1:0", "--smtps", "127.0.0.1:0", "--tls-self-signed");
        Assert.Equal([false, true], catcher.Listeners.Select(l => l.Tls));
        var secure = catcher.Listeners.Single(l => l.Tls).EndPoint;
        await Mail.SendAsync(secure, Mail.Simple("over smtps"), SecureSocketOptions.SslOnConnect);
        var e = await catcher.NextMessageAsync();
        Assert.True(e.GetProperty("tls").GetBoolean());
        Assert.Equal("over smtps", e.GetProperty("subject").GetString());
    }

    [Fact]
    public async Task APemCertificateAndKeyAreWhatTheServerPresents()
    {
        using var dir = new TestDirectory();
        using var certificate = CreateCertificate("pem.test");
        await File.WriteAllTextAsync(dir.Combine("cert.pem"), certificate.ExportCertificatePem(), TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(dir.Combine("key.pem"), certificate.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem(), TestContext.Current.CancellationToken);
        await using var catcher = await CatcherProcess.StartAsync(dir, "--tls-cert", dir.Combine("cert.pem"), "--tls-key", dir.Combine("key.pem"));
        Assert.Equal(certificate.Thumbprint, await ThumbprintAsync(catcher.EndPoint));
    }

    [Fact]
    public async Task APfxCertificateIsWhatTheServerPresents()
    {
        using var dir = new TestDirectory();
        using var certificate = CreateCertificate("pfx.test");
        await File.WriteAllBytesAsync(dir.Combine("cert.pfx"), certificate.Export(X509ContentType.Pkcs12), TestContext.Current.CancellationToken);
        await using var catcher = await CatcherProcess.StartAsync(dir, "--tls-cert", dir.Combine("cert.pfx"));
        Assert.Equal(certificate.Thumbprint, await ThumbprintAsync(catcher.EndPoint));
    }

    private static async Task<string> ThumbprintAsync(System.Net.IPEndPoint endpoint)
    {
        string? thumbprint = null;
        using var client = new SmtpClient();
        client.ServerCertificateValidationCallback = (_, cert, _, _) =>
        {
            thumbprint = X509CertificateLoader.LoadCertificate(cert!.GetRawCertData()).Thumbprint;
            return true;
        };
        await client.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, SecureSocketOptions.StartTls, TestContext.Current.CancellationToken);
        await client.DisconnectAsync(true, TestContext.Current.CancellationToken);
        return thumbprint ?? throw new InvalidOperationException("no certificate seen");
    }

    internal static X509Certificate2 CreateCertificate(string name)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), password: null);
    }

}
