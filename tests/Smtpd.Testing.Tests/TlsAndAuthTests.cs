using System.Net;
using AuthenticationException = MailKit.Security.AuthenticationException;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MailKit.Security;

namespace Smtpd.Testing.Tests;

public sealed class TlsAndAuthTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StartTlsIsOneLineAndTheClientTrustsTheExposedCertificate()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseStartTls(), Ct);

        await Mail.SendAsync(smtp);

        var session = Assert.Single(smtp.Messages).Session;
        Assert.True(session.IsSecure);
        Assert.True(session.TlsProtocol is System.Security.Authentication.SslProtocols.Tls12 or System.Security.Authentication.SslProtocols.Tls13);
        Assert.Equal(SmtpTlsMode.StartTls, smtp.Tls);
        Assert.Same(SmtpTestCertificate.Shared, smtp.Certificate);
        Assert.True(smtp.Certificate!.HasPrivateKey);
    }

    [Fact]
    public async Task ImplicitTlsSpeaksTlsFromTheFirstByte()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseImplicitTls(), Ct);
        using var client = new SmtpClient { ServerCertificateValidationCallback = smtp.ValidateServerCertificate };

        await client.ConnectAsync(smtp.Host, smtp.Port, SecureSocketOptions.SslOnConnect, Ct);
        await client.SendAsync(Mail.Create(), Ct);
        await client.DisconnectAsync(true, Ct);

        Assert.True(Assert.Single(smtp.Messages).Session.IsSecure);
    }

    [Fact]
    public async Task WithoutTrustingTheCertificateMailKitRefusesIt()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseStartTls(), Ct);
        using var client = new SmtpClient();

        await Assert.ThrowsAsync<SslHandshakeException>(() => client.ConnectAsync(smtp.Host, smtp.Port, SecureSocketOptions.StartTls, Ct));
    }

    [Fact]
    public async Task RequiredTlsRefusesMailInPlaintextWith530()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseStartTls(require: true), Ct);
        using var client = new SmtpClient();
        await client.ConnectAsync(smtp.Host, smtp.Port, SecureSocketOptions.None, Ct);

        var error = await Assert.ThrowsAsync<MailKit.ServiceNotAuthenticatedException>(() => client.SendAsync(Mail.Create(), Ct));
        Assert.Equal("5.7.0 Must issue a STARTTLS command first", error.Message);
    }

    [Fact]
    public async Task SystemNetMailSendsOverStartTlsWithTheProcessWideValidator()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseStartTls(), Ct);
#pragma warning disable SYSLIB0014 // System.Net.Mail reads its certificate policy from ServicePointManager.
        ServicePointManager.ServerCertificateValidationCallback = SmtpTestCertificate.Validate;
#pragma warning restore SYSLIB0014
        using var client = new System.Net.Mail.SmtpClient("localhost", smtp.Port) { EnableSsl = true };

        await client.SendMailAsync("alice@example.com", "bob@example.com", "Over TLS", "Body", Ct);

        Assert.True((await smtp.WaitForMessageAsync(cancellationToken: Ct)).Session.IsSecure);
    }

    [Fact]
    public async Task AnOwnCertificateIsUsedAndTrusted()
    {
        using var certificate = SmtpTestCertificate.Create("mail.test");
        await using var smtp = await SmtpTestServer.StartAsync(o => { o.UseStartTls(); o.Certificate = certificate; }, Ct);

        await Mail.SendAsync(smtp);

        Assert.Same(certificate, smtp.Certificate);
        Assert.True(SmtpTestCertificate.IsTestCertificate(certificate));
        Assert.Single(smtp.Messages);
    }

    [Fact]
    public async Task TheValidatorTrustsNoOtherSelfSignedCertificate()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseStartTls(), Ct);
        using var key = ECDsa.Create();
        using var stranger = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

        Assert.False(smtp.ValidateServerCertificate(this, stranger, null, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(SmtpTestCertificate.Validate(this, stranger, null, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.True(smtp.ValidateServerCertificate(this, smtp.Certificate, null, System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.True(SmtpTestCertificate.Validate(this, stranger, null, System.Net.Security.SslPolicyErrors.None));
    }

    [Fact]
    public async Task RequiredAuthenticationAcceptsTheGivenCredentialsAndRecordsTheUser()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.RequireAuthentication("app", "secret"), Ct);

        await Mail.SendAsync(smtp);

        var session = Assert.Single(smtp.Messages).Session;
        Assert.Equal("app", session.AuthenticatedIdentity);
        Assert.NotNull(session.AuthenticationMechanism);
        Assert.Equal("app", smtp.Credentials!.UserName);
    }

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    [InlineData("CRAM-MD5")]
    public async Task EveryPasswordMechanismChecksThePassword(string mechanism)
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.RequireAuthentication("app", "secret"), Ct);
        using var client = await Mail.ConnectAsync(smtp, authenticate: false);
        client.AuthenticationMechanisms.IntersectWith([mechanism]);

        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync("app", "wrong", Ct));
        await client.AuthenticateAsync("app", "secret", Ct);
        await client.SendAsync(Mail.Create(), Ct);

        Assert.Equal(mechanism, Assert.Single(smtp.Messages).Session.AuthenticationMechanism);
    }

    [Fact]
    public async Task XOAuth2TakesThePasswordAsTheToken()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.RequireAuthentication("app", "token-123"), Ct);
        using var client = await Mail.ConnectAsync(smtp, authenticate: false);

        await client.AuthenticateAsync(new SaslMechanismOAuth2("app", "token-123"), Ct);
        await client.SendAsync(Mail.Create(), Ct);

        Assert.Equal("XOAUTH2", Assert.Single(smtp.Messages).Session.AuthenticationMechanism);
    }

    [Fact]
    public async Task MailWithoutAuthenticationIsRefusedWith530AsNotAuthenticated()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.RequireAuthentication("app", "secret"), Ct);
        using var client = await Mail.ConnectAsync(smtp, authenticate: false);

        // MailKit turns 530 to MAIL into its "not authenticated" exception.
        var error = await Assert.ThrowsAsync<MailKit.ServiceNotAuthenticatedException>(() => client.SendAsync(Mail.Create(), Ct));

        Assert.Equal("5.7.0 Authentication required", error.Message);
        Assert.Empty(smtp.Messages);
    }

    [Fact]
    public async Task SystemNetMailAuthenticatesWithNetworkCredentials()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.RequireAuthentication("app", "secret"), Ct);
        using var client = new System.Net.Mail.SmtpClient(smtp.Host, smtp.Port) { Credentials = smtp.Credentials };

        await client.SendMailAsync("alice@example.com", "bob@example.com", "Authenticated", "Body", Ct);

        Assert.Equal("app", (await smtp.WaitForMessageAsync(cancellationToken: Ct)).Session.AuthenticatedIdentity);
    }
}
