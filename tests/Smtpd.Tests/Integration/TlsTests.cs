using System.Net;
using System.Security.Authentication;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Smtpd.Tests.Integration;

/// <summary>STARTTLS (RFC 3207) and implicit TLS (RFC 8314).</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task StartTlsIsAdvertisedOnlyWithACertificateAndOnlyBeforeTls()
    {
        await using (var plain = TestServer.Start())
        {
            var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(plain.EndPoint);
            await using var _1 = client;
            Assert.DoesNotContain("STARTTLS", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
            Assert.Equal("502 5.5.1 STARTTLS not available", await client.CommandAsync("STARTTLS"));
        }

        await using var server = TestServer.Start(o => o.ServerCertificate = TestCertificates.Localhost);
        await using var tlsClient = await ConnectAndStartTlsAsync(server);
        var ehlo = await tlsClient.CommandAsync("EHLO client.test");
        Assert.StartsWith("250-", ehlo);
        Assert.DoesNotContain("STARTTLS", ehlo, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartTlsResetsTheSessionAndTheClientMustGreetAgain()
    {
        await using var server = TestServer.Start(o => o.ServerCertificate = TestCertificates.Localhost);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<before@tls.example>"));
        Assert.Equal("220 2.0.0 Ready to start TLS", await client.CommandAsync("STARTTLS"));
        await client.StartTlsAsync();

        Assert.Equal("503 Bad sequence of commands: send HELO or EHLO first", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("250-", await client.CommandAsync("EHLO client.test"));
        Assert.Equal("503 5.5.1 Bad sequence of commands: need MAIL before RCPT", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<after@tls.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("secret\r\n."));

        var message = await server.WaitForMessageAsync();
        Assert.Equal("after@tls.example", message.Envelope.SenderAddress);
        Assert.True(message.Session.IsSecure);
        Assert.True(message.Session.TlsProtocol is SslProtocols.Tls12 or SslProtocols.Tls13);
        Assert.NotNull(message.Session.TlsCipherSuite);
        Assert.Equal("localhost", message.Session.SniHostName);
        Assert.Equal("client.test", message.Session.HeloName);
    }

    [Fact]
    public async Task PlaintextPipelinedAfterStartTlsIsNeverExecuted()
    {
        await using var server = TestServer.Start(o => o.ServerCertificate = TestCertificates.Localhost);
        await using var client = await server.ConnectAndEhloAsync();
        // CVE-2011-0411: the injected commands arrive in the same write as STARTTLS.
        await client.SendAsync("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\nRCPT TO:<victim@b.example>\r\n");
        Assert.Equal("220 2.0.0 Ready to start TLS", await client.ReadReplyAsync());
        await client.StartTlsAsync();
        Assert.StartsWith("250-", await client.CommandAsync("EHLO client.test"));
        // Had the injected MAIL run, this would be "nested MAIL"; had RCPT run, DATA would be accepted.
        Assert.StartsWith("503", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<real@b.example>"));
    }

    [Fact]
    public async Task SecondStartTlsGets503()
    {
        await using var server = TestServer.Start(o => o.ServerCertificate = TestCertificates.Localhost);
        await using var client = await ConnectAndStartTlsAsync(server);
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("503 5.5.1 Bad sequence of commands: TLS already active", await client.CommandAsync("STARTTLS"));
    }

    [Fact]
    public async Task StartTlsWithAnArgumentGets501AndThePlaintextSessionContinues()
    {
        await using var server = TestServer.Start(o => o.ServerCertificate = TestCertificates.Localhost);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("501 5.5.4 Syntax error: no arguments allowed", await client.CommandAsync("STARTTLS now"));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task RequireTlsRefusesEverythingButTheWayToTls()
    {
        await using var server = TestServer.Start(o =>
        {
            o.ServerCertificate = TestCertificates.Localhost;
            o.RequireTls = true;
        });
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Equal("530 5.7.0 Must issue a STARTTLS command first", await client.CommandAsync("VRFY someone"));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Equal("250 2.0.0 Reset OK", await client.CommandAsync("RSET"));
        Assert.Equal("220 2.0.0 Ready to start TLS", await client.CommandAsync("STARTTLS"));
        await client.StartTlsAsync();
        await client.CommandAsync("EHLO client.test");
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
    }

    [Fact]
    public async Task ImplicitTlsListenerWorksBesideAPlainListener()
    {
        var options = new SmtpServerOptions { ServerName = "test.local", ServerCertificate = TestCertificates.Localhost };
        await using var server = new SmtpServer(options);
        server.Start(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)), new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0), ImplicitTls: true));
        Assert.False(server.Listeners[0].ImplicitTls);
        Assert.True(server.Listeners[1].ImplicitTls);

        var (plain, plainGreeting) = await RawSmtpClient.ConnectAndGreetAsync(server.Endpoints[0]);
        await using var _1 = plain;
        Assert.StartsWith("220 test.local", plainGreeting);

        await using var secure = await RawSmtpClient.ConnectAsync(server.Endpoints[1]);
        await secure.StartTlsAsync();
        Assert.StartsWith("220 test.local", await secure.ReadReplyAsync());
        var ehlo = await secure.CommandAsync("EHLO client.test");
        Assert.DoesNotContain("STARTTLS", ehlo, StringComparison.Ordinal);
    }

    [Fact]
    public void ImplicitTlsWithoutACertificateIsRefusedAtStart()
    {
        var server = new SmtpServer();
        Assert.Throws<ArgumentException>(() => server.Start(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0), ImplicitTls: true)));
        Assert.False(server.IsRunning);
    }

    [Fact]
    public async Task AFailedHandshakeClosesThatConnectionAndNoOther()
    {
        await using var server = TestServer.Start(o => o.ServerCertificate = TestCertificates.Localhost);
        await using var bystander = await server.ConnectAndEhloAsync();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("220", await client.CommandAsync("STARTTLS"));
        await client.SendAsync("this is not a TLS record\r\n");
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Equal("250 2.0.0 OK", await bystander.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task AHandshakeAbortedInTheMiddleEndsOnlyThatSession()
    {
        await using var server = TestServer.Start(o => o.ServerCertificate = TestCertificates.Localhost);
        var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("220", await client.CommandAsync("STARTTLS"));
        // The first bytes of a TLS record header (handshake, TLS 1.0 record version), then the client vanishes.
        await client.SendAsync(new byte[] { 0x16, 0x03, 0x01, 0x02 });
        await client.DisposeAsync();

        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 0);
        await using var next = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.0.0 OK", await next.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task AStalledHandshakeIsCutOffByTheHandshakeTimeout()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        await using var server = TestServer.StartWithClock(time, o => o.ServerCertificate = TestCertificates.Localhost);
        await using var client = await server.ConnectAndEhloAsync();

        // The handshake's clock starts before the 220 is sent, so advancing it now cannot race the session.
        Assert.StartsWith("220", await client.CommandAsync("STARTTLS"));
        time.Advance(server.Server.Options.TlsHandshakeTimeout);
        Assert.True(await client.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task AnImplicitTlsClientIsCutOffAtTheHandshakeTimeoutAndNotBefore()
    {
        var time = new TestClock();
        await using var server = TestServer.StartWithClock(
            time,
            o => o.ServerCertificate = TestCertificates.Localhost,
            new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0), ImplicitTls: true));
        var timeout = server.Server.Options.TlsHandshakeTimeout;

        // Just before the timeout the handshake still succeeds, and the greeting follows it.
        var reads = time.Reads;
        await using (var punctual = await server.ConnectAsync())
        {
            await time.WaitForReadAfterAsync(reads);
            time.Advance(timeout - TimeSpan.FromMilliseconds(1));
            await punctual.StartTlsAsync();
            Assert.StartsWith("220 ", await punctual.ReadReplyAsync(), StringComparison.Ordinal);
        }

        // The first session's teardown may still touch the clock; counting reads from before it ends could take one
        // of its reads for the second session's handshake timer, and advance the clock before that timer exists.
        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 0, "the punctual session ended");
        reads = time.Reads;
        await using var silent = await server.ConnectAsync();
        await time.WaitForReadAfterAsync(reads);
        time.Advance(timeout);

        Assert.True(await silent.IsClosedByServerAsync());
        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 0, "the session ended");
    }

    [Fact]
    public async Task TheCertificateIsChosenByTheSniHostName()
    {
        var other = TestCertificates.Create("mail.example");
        string? asked = null;
        await using var server = TestServer.Start(o =>
        {
            o.ServerCertificate = TestCertificates.Localhost;
            o.ServerCertificateSelector = (_, host) =>
            {
                asked = host;
                return host == "mail.example" ? other : null;
            };
        });
        await using var client = await server.ConnectAndEhloAsync();
        await client.CommandAsync("STARTTLS");
        await client.StartTlsAsync("mail.example");
        Assert.Equal("mail.example", asked);
        Assert.Equal(other.Thumbprint, new System.Security.Cryptography.X509Certificates.X509Certificate2(client.Tls!.RemoteCertificate!).Thumbprint);
    }

    [Fact]
    public async Task AClientCertificateIsExposedToCallbacks()
    {
        var clientCertificate = TestCertificates.Create("client.example", clientAuthentication: true);
        await using var server = TestServer.Start(o =>
        {
            o.ServerCertificate = TestCertificates.Localhost;
            o.RequestClientCertificate = true;
        });
        await using var client = await server.ConnectAndEhloAsync();
        await client.CommandAsync("STARTTLS");
        await client.StartTlsAsync(clientCertificate: clientCertificate);
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<a@b.example>");
        await client.CommandAsync("RCPT TO:<r@b.example>");
        await client.CommandAsync("DATA");
        Assert.StartsWith("250", await client.CommandAsync("x\r\n."));
        var message = await server.WaitForMessageAsync();
        Assert.Equal(clientCertificate.Thumbprint, message.Session.ClientCertificate?.Thumbprint);
    }

    [Fact]
    public async Task MailKitSendsOverStartTls()
    {
        await using var server = TestServer.Start(o => o.ServerCertificate = TestCertificates.Localhost);
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("localhost", server.Port, SecureSocketOptions.StartTls, TestContext.Current.CancellationToken);
        Assert.True(client.IsSecure);
        await client.SendAsync(Message("over starttls"), TestContext.Current.CancellationToken);
        await client.DisconnectAsync(true, TestContext.Current.CancellationToken);
        var received = await server.WaitForMessageAsync();
        Assert.True(received.Session.IsSecure);
        Assert.Contains("over starttls", received.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MailKitSendsOverImplicitTls()
    {
        var messages = new System.Collections.Concurrent.ConcurrentQueue<bool>();
        var options = new SmtpServerOptions
        {
            ServerCertificate = TestCertificates.Localhost,
            Deliver = (m, _) =>
            {
                messages.Enqueue(m.Session.IsSecure);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            },
        };
        await using var server = new SmtpServer(options);
        server.Start(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0), ImplicitTls: true));
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("localhost", server.Endpoints[0].Port, SecureSocketOptions.SslOnConnect, TestContext.Current.CancellationToken);
        await client.SendAsync(Message("over implicit tls"), TestContext.Current.CancellationToken);
        await client.DisconnectAsync(true, TestContext.Current.CancellationToken);
        Assert.True(Assert.Single(messages));
    }

    [Fact]
    public async Task SystemNetMailSendsWithEnableSsl()
    {
        await using var server = TestServer.Start(o => o.ServerCertificate = TestCertificates.Localhost);
#pragma warning disable SYSLIB0014 // System.Net.Mail.SmtpClient reads its certificate policy from ServicePointManager.
        System.Net.ServicePointManager.ServerCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore SYSLIB0014
        using var client = new System.Net.Mail.SmtpClient("localhost", server.Port) { EnableSsl = true };
        await client.SendMailAsync(new System.Net.Mail.MailMessage("from@example.com", "to@example.com", "tls subject", "tls body"), TestContext.Current.CancellationToken);
        var received = await server.WaitForMessageAsync();
        Assert.True(received.Session.IsSecure);
        Assert.Contains("tls subject", received.Text, StringComparison.Ordinal);
    }

    internal static MimeMessage Message(string text)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@example.com"));
        message.To.Add(MailboxAddress.Parse("rcpt@example.com"));
        message.Subject = text;
        message.Body = new TextPart("plain") { Text = text };
        return message;
    }

    internal static async Task<RawSmtpClient> ConnectAndStartTlsAsync(TestServer server)
    {
        var client = await server.ConnectAndEhloAsync();
        Assert.Equal("220 2.0.0 Ready to start TLS", await client.CommandAsync("STARTTLS"));
        await client.StartTlsAsync();
        return client;
    }
}
