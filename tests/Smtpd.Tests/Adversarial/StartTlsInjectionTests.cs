using System.Collections.Concurrent;
using System.Text;

namespace Smtpd.Tests.Adversarial;

/// <summary>
/// STARTTLS command injection (CVE-2011-0411 and its 2021 relatives in many MTAs): whatever a client, or a
/// man in the middle, puts in the plaintext stream after STARTTLS must never run inside the TLS session.
/// <c>FilterCommand</c> sees every well-formed command before it runs, so the verbs it records are exactly what ran.
/// The basic case (injected MAIL/RCPT in the STARTTLS write) is in <c>Integration/TlsTests</c>.
/// </summary>
public sealed class StartTlsInjectionTests
{
    private const string User = "alice";
    private const string Password = "correct horse";

    [Fact]
    public async Task AnInjectedAuthInTheStartTlsWriteDoesNotAuthenticateTheTlsSession()
    {
        var verbs = new ConcurrentQueue<string>();
        await using var server = StartServer(verbs, o => o.RequireAuth = true);
        await using var client = await server.ConnectAndEhloAsync();

        // AllowInsecureAuth is on, so had the injected AUTH run it would have succeeded.
        await client.SendAsync($"STARTTLS\r\nAUTH PLAIN {Plain(User, Password)}\r\nMAIL FROM:<injected@evil.example>\r\n");
        Assert.Equal("220 2.0.0 Ready to start TLS", await client.ReadReplyAsync());
        await client.StartTlsAsync();

        var ehlo = await client.CommandAsync("EHLO client.test");
        Assert.Contains("AUTH PLAIN", ehlo, StringComparison.Ordinal);
        Assert.Equal("530 5.7.0 Authentication required", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Equal(["EHLO", "STARTTLS", "EHLO", "MAIL"], verbs);
    }

    [Fact]
    public async Task PlaintextSentAfterThe220ButBeforeTheClientHelloBreaksTheHandshakeAndIsNeverExecuted()
    {
        var verbs = new ConcurrentQueue<string>();
        await using var server = StartServer(verbs);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("220 2.0.0 Ready to start TLS", await client.CommandAsync("STARTTLS"));

        // A man in the middle slips commands in between the 220 and the handshake.
        await client.SendAsync("MAIL FROM:<injected@evil.example>\r\nRCPT TO:<victim@b.example>\r\n");
        await Assert.ThrowsAnyAsync<Exception>(() => client.StartTlsAsync());

        Assert.True(await client.IsClosedByServerAsync());
        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 0, "the session ended");
        Assert.Equal(["EHLO", "STARTTLS"], verbs);
        Assert.Empty(server.Messages);
    }

    [Theory]
    [InlineData("STARTTLS\nMAIL FROM:<injected@evil.example>\nRCPT TO:<victim@b.example>\n")]
    [InlineData("STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\nRCPT TO:<victim@b.example>\r\nDATA\r\nevil\r\n.\r\n")]
    [InlineData("STARTTLS\r\nRSET\r\nQUIT\r\n")]
    [InlineData("STARTTLS\r\nEHLO injected.example\r\n")]
    public async Task NothingPipelinedAfterStartTlsRunsWhateverItsLineEndings(string write)
    {
        var verbs = new ConcurrentQueue<string>();
        await using var server = StartServer(verbs);
        await using var client = await server.ConnectAndEhloAsync();
        await client.SendAsync(write);
        Assert.Equal("220 2.0.0 Ready to start TLS", await client.ReadReplyAsync());
        await client.StartTlsAsync();

        // The TLS session starts empty: no greeting (RCPT and DATA would otherwise be in sequence), no QUIT.
        Assert.Equal("503 Bad sequence of commands: send HELO or EHLO first", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("250-", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
        Assert.Equal("503 5.5.1 Bad sequence of commands: need MAIL before DATA", await client.CommandAsync("DATA"));
        // The filter sees what passed the state table: RCPT and DATA above did not, and nothing injected ran.
        Assert.Equal(["EHLO", "STARTTLS", "EHLO"], verbs);
        Assert.Empty(server.Messages);
        Assert.Equal("221 2.0.0 Bye", await client.CommandAsync("QUIT"));
    }

    [Fact]
    public async Task StartTlsInsideMessageContentIsContentAndTheSessionStaysPlain()
    {
        var verbs = new ConcurrentQueue<string>();
        await using var server = StartServer(verbs);
        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(
            "EHLO client.test\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nDATA\r\nSTARTTLS\r\nAUTH PLAIN " + Plain(User, Password) + "\r\n.\r\nQUIT\r\n"));

        Wire.AssertWellFormed(transcript);
        Assert.Equal(["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Message accepted", "221 2.0.0 Bye"], transcript.Replies[1..]);
        var message = Assert.Single(server.Messages);
        Assert.StartsWith("STARTTLS\r\nAUTH PLAIN ", message.Text, StringComparison.Ordinal);
        Assert.False(message.Session.IsSecure);
        Assert.Null(message.Session.AuthenticatedIdentity);
        Assert.Equal(["EHLO", "MAIL", "RCPT", "DATA", "QUIT"], verbs);
    }

    [Fact]
    public async Task AStartTlsReplyIsNeverFollowedByAnyPlaintextReply()
    {
        // The server side of injection: after the 220 not one plaintext octet may follow, or the client's TLS stack
        // would read it as a record. The batch before STARTTLS is answered before the 220; what follows is dropped.
        await using var server = StartServer(new ConcurrentQueue<string>());
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(server.EndPoint, TestContext.Current.CancellationToken);
        await Wire.ReadLineAsync(socket, TimeSpan.FromSeconds(10));
        await Wire.SendAsync(socket, Wire.Bytes("EHLO client.test\r\nNOOP\r\nSTARTTLS\r\nNOOP\r\nNOOP\r\n"), Delivery.Whole);

        var received = new List<byte>();
        var buffer = new byte[4096];
        while (!Encoding.Latin1.GetString([.. received]).EndsWith("220 2.0.0 Ready to start TLS\r\n", StringComparison.Ordinal))
        {
            var read = await socket.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, TestContext.Current.CancellationToken);
            Assert.NotEqual(0, read);
            received.AddRange(buffer.AsSpan(0, read));
        }

        Assert.EndsWith("250 2.0.0 OK\r\n220 2.0.0 Ready to start TLS\r\n", Encoding.Latin1.GetString([.. received]), StringComparison.Ordinal);
        Assert.False(socket.Poll(300_000, System.Net.Sockets.SelectMode.SelectRead), "Plaintext followed the 220.");

        await using var tls = new System.Net.Security.SslStream(new System.Net.Sockets.NetworkStream(socket), leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = static (_, _, _, _) => true,
        }, TestContext.Current.CancellationToken);
        await tls.WriteAsync(Wire.Bytes("NOOP\r\n"), TestContext.Current.CancellationToken);
        var reply = new byte[64];
        var length = await tls.ReadAsync(reply, TestContext.Current.CancellationToken);
        Assert.Equal("250 OK\r\n", Encoding.Latin1.GetString(reply, 0, length));
    }

    private static TestServer StartServer(ConcurrentQueue<string> verbs, Action<SmtpServerOptions>? configure = null) =>
        TestServer.Start(o =>
        {
            o.ServerCertificate = TestCertificates.Localhost;
            o.AllowInsecureAuth = true;
            o.Authenticate = (_, credentials, _) => ValueTask.FromResult(
                credentials.Identity == User && credentials.Password == Password ? SmtpVerdict.Accept : SmtpVerdict.Reject());
            o.FilterCommand = (_, verb, _) =>
            {
                verbs.Enqueue(verb);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
            configure?.Invoke(o);
        });

    private static string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
}
