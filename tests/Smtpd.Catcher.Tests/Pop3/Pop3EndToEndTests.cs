using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MailKit;
using MailKit.Net.Pop3;
using MailKit.Security;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Tests.Http;

namespace Smtpd.Catcher.Tests.Pop3;

/// <summary>The catcher's POP3 listener driven by MailKit's <see cref="Pop3Client"/> and a raw socket, on 127.0.0.1 port 0.</summary>
public sealed class Pop3EndToEndTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<CatcherHost> StartAsync(Action<CatcherOptions>? configure = null) => CatcherHost.StartAsync(o =>
    {
        o.Pop3.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        o.Pop3.Users["alice"] = "secret";
        o.Pop3.Users["bob"] = "builder";
        configure?.Invoke(o);
    });

    private static async Task<Pop3Client> ConnectAsync(CatcherHost host, SecureSocketOptions security = SecureSocketOptions.None, IProtocolLogger? logger = null)
    {
        var client = logger is null ? new Pop3Client() : new Pop3Client(logger);
        // The test certificate is self-signed; the test checks what was negotiated instead.
        client.ServerCertificateValidationCallback = (_, _, _, _) => true;
        var endPoint = host.Catcher.Pop3EndPoints[0];
        await client.ConnectAsync(endPoint.Address.ToString(), endPoint.Port, security, Ct);
        return client;
    }

    private static byte[] Stored(CatcherHost host, int index)
    {
        using var store = MessageStore.Open(host.DatabasePath, readOnly: true);
        var record = store.List(new MessageFilter()).OrderBy(m => m.Id).ElementAt(index);
        using var content = store.OpenContent(record);
        using var copy = new MemoryStream();
        content.CopyTo(copy);
        return copy.ToArray();
    }

    [Fact]
    public async Task MailKitLogsInWithUserAndPassAndReadsStatListUidlTopAndRetr()
    {
        await using var host = await StartAsync();
        await host.SendSimpleAsync("first", text: "Hello\r\n.dot line");
        await host.SendSimpleAsync("second");
        using var client = await ConnectAsync(host);
        Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.User));
        client.AuthenticationMechanisms.Clear();
        await client.AuthenticateAsync("alice", "secret", Ct);

        Assert.Equal(2, client.Count);
        var first = Stored(host, 0);
        var second = Stored(host, 1);
        Assert.Equal([first.Length, second.Length], await client.GetMessageSizesAsync(Ct));
        var uids = await client.GetMessageUidsAsync(Ct);
        Assert.Equal(2, uids.Count);
        using (var store = MessageStore.Open(host.DatabasePath, readOnly: true))
        {
            Assert.Equal($"1-{store.Find(1)!.Sha256[..16]}", uids[0]);
        }

        Assert.Equal(uids[1], await client.GetMessageUidAsync(1, Ct));

        var headers = await client.GetMessageHeadersAsync(0, Ct);
        Assert.Equal("first", headers[HeaderId.Subject]);
        using (var raw = await client.GetStreamAsync(0, headersOnly: false, Ct))
        using (var copy = new MemoryStream())
        {
            await raw.CopyToAsync(copy, Ct);
            Assert.Equal(first, copy.ToArray());
        }

        var message = await client.GetMessageAsync(1, Ct);
        Assert.Equal("second", message.Subject);
        await client.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task MailKitAuthenticatesWithAuthPlain()
    {
        await using var host = await StartAsync();
        await host.SendSimpleAsync("one");
        using var log = new MemoryStream();
        using var client = await ConnectAsync(host, logger: new ProtocolLogger(log, leaveOpen: true));
        Assert.Contains("PLAIN", client.AuthenticationMechanisms);
        await client.AuthenticateAsync(new SaslMechanismPlain("alice", "secret"), Ct);
        Assert.Equal(1, client.Count);
        await client.DisconnectAsync(true, Ct);
        Assert.Contains("AUTH PLAIN", Encoding.UTF8.GetString(log.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AWrongPasswordIsRefusedAndTheUserCanStillLogIn()
    {
        await using var host = await StartAsync();
        using var client = await ConnectAsync(host);
        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync("alice", "wrong", Ct));
        await client.AuthenticateAsync("alice", "secret", Ct);
        Assert.Equal(0, client.Count);
    }

    [Fact]
    public async Task DeleThenQuitRemovesTheMessageFromTheStoreAndTheHttpApi()
    {
        await using var host = await StartAsync();
        var doomed = await host.SendSimpleAsync("doomed");
        await host.SendSimpleAsync("kept");
        var events = new List<string>();
        host.Catcher.Events.Published += e => events.Add($"{e.Type} {(e.Data as Smtpd.Catcher.Http.DeleteEvent)?.ID}");
        using (var client = await ConnectAsync(host))
        {
            await client.AuthenticateAsync("alice", "secret", Ct);
            await client.DeleteMessageAsync(0, Ct);
            await client.DisconnectAsync(true, Ct);
        }

        // QUIT's +OK came after the removal and its announcement.
        Assert.Equal([$"delete {doomed}"], events);

        var list = await host.GetJsonAsync("/api/v1/messages");
        var remaining = Assert.Single(list.GetProperty("messages").EnumerateArray());
        Assert.Equal("kept", remaining.GetProperty("Subject").GetString());

        // Mailpit's MessagesDeleted counts every deletion, not only the API's.
        var info = await host.GetJsonAsync("/api/v1/info");
        Assert.Equal(1, info.GetProperty("RuntimeStats").GetProperty("MessagesDeleted").GetInt64());
    }

    [Fact]
    public async Task DeleWithoutQuitRemovesNothing()
    {
        await using var host = await StartAsync();
        await host.SendSimpleAsync("stays");
        using (var client = await ConnectAsync(host))
        {
            await client.AuthenticateAsync("alice", "secret", Ct);
            await client.DeleteMessageAsync(0, Ct);
            // Drop the connection without QUIT: no UPDATE state (RFC 1939 section 6).
            await client.DisconnectAsync(false, Ct);
        }

        // Another user (the first one's lock may not be released yet: the server learns of the drop when it reads)
        // sees the same store, with the message still there.
        using var again = await ConnectAsync(host);
        await again.AuthenticateAsync("bob", "builder", Ct);
        Assert.Equal(1, again.Count);
    }

    [Fact]
    public async Task UsersLogInAtOnceAndSeeMessagesThatArriveAfterLoginAtTheNextLogin()
    {
        await using var host = await StartAsync();
        await host.SendSimpleAsync("before");
        using var alice = await ConnectAsync(host);
        await alice.AuthenticateAsync("alice", "secret", Ct);
        using var bob = await ConnectAsync(host);
        await bob.AuthenticateAsync("bob", "builder", Ct);
        await host.SendSimpleAsync("after");
        Assert.Equal(1, await alice.GetMessageCountAsync(Ct));
        Assert.Equal(1, bob.Count);
        await alice.DisconnectAsync(true, Ct);

        using var again = await ConnectAsync(host);
        await again.AuthenticateAsync("alice", "secret", Ct);
        Assert.Equal(2, again.Count);
    }

    [Fact]
    public async Task CommandsSentWithStlsInOnePacketAreDiscardedNotRunUnderTls()
    {
        using var certificate = SelfSigned();
        await using var host = await StartAsync(o => o.Smtp.ServerCertificate = certificate);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(host.Catcher.Pop3EndPoints[0], Ct);
        var plain = tcp.GetStream();
        var greeting = new byte[128];
        var read = await plain.ReadAsync(greeting, Ct);
        Assert.StartsWith("+OK", Encoding.ASCII.GetString(greeting, 0, read), StringComparison.Ordinal);
        // The injected USER would be answered "+OK send PASS" under TLS if it were kept (CVE-2011-0411's pattern).
        await plain.WriteAsync("STLS\r\nUSER injected\r\n"u8.ToArray(), Ct);
        var line = new StringBuilder();
        for (int b; (b = plain.ReadByte()) is >= 0 and not '\n';)
        {
            line.Append((char)b);
        }

        Assert.Equal("+OK begin TLS negotiation\r", line.ToString());
        using var tls = new System.Net.Security.SslStream(plain, leaveInnerStreamOpen: true, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions { TargetHost = "localhost" }, Ct);
        await tls.WriteAsync("NOOP\r\nQUIT\r\n"u8.ToArray(), Ct);
        using var secure = new StreamReader(tls, Encoding.ASCII);
        Assert.Equal("-ERR command not valid before login", await secure.ReadLineAsync(Ct));
        Assert.Equal("+OK smtpd POP3 server signing off", await secure.ReadLineAsync(Ct));
    }

    [Fact]
    public async Task StlsUpgradesTheConnectionWithTheCatchersCertificate()
    {
        using var certificate = SelfSigned();
        await using var host = await StartAsync(o => o.Smtp.ServerCertificate = certificate);
        await host.SendSimpleAsync("secret mail");
        using var client = await ConnectAsync(host, SecureSocketOptions.StartTls);
        Assert.True(client.IsSecure);
        Assert.True(client.IsEncrypted);
        await client.AuthenticateAsync("alice", "secret", Ct);
        Assert.Equal("secret mail", (await client.GetMessageAsync(0, Ct)).Subject);
        await client.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task ATenMebibyteMessageIsStreamedWithItsExactOctets()
    {
        await using var host = await StartAsync();
        var line = new string('x', 76) + "\r\n";
        var body = new StringBuilder(11 * 1024 * 1024);
        while (body.Length < 10 * 1024 * 1024)
        {
            // Every 100th line starts with a dot, so byte-stuffing is exercised all through the message.
            body.Append(body.Length % (100 * line.Length) == 0 ? "." + line[1..] : line);
        }

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("big@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = "big";
        message.Body = new TextPart("plain") { Text = body.ToString(), ContentTransferEncoding = ContentEncoding.SevenBit };
        await host.SendAsync(message);
        var stored = Stored(host, 0);
        Assert.True(stored.Length > 10 * 1024 * 1024);

        using var client = await ConnectAsync(host);
        await client.AuthenticateAsync("alice", "secret", Ct);
        Assert.Equal(stored.Length, await client.GetMessageSizeAsync(0, Ct));
        using var raw = await client.GetStreamAsync(0, headersOnly: false, Ct);
        using var copy = new MemoryStream();
        await raw.CopyToAsync(copy, Ct);
        Assert.Equal(SHA256.HashData(stored), SHA256.HashData(copy.ToArray()));
        await client.DisconnectAsync(true, Ct);
    }

    [Fact]
    public async Task AMessageLargerThanAStoreChunkPostedToTheSendApiIsRetrievedWhole()
    {
        await using var host = await StartAsync();
        // Over 256 KiB (StoreSchema.ChunkSize): the store must split it into chunks for its readers to find them.
        var text = string.Concat(Enumerable.Repeat(new string('y', 70) + "\n", 8000));
        var body = $$"""{"From":{"Email":"app@example.com"},"To":[{"Email":"user@example.com"}],"Subject":"big over HTTP","Text":"{{text.Replace("\n", "\\n", StringComparison.Ordinal)}}"}""";
        using var sent = await host.Client.PostAsync("/api/v1/send", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        var stored = Stored(host, 0);
        Assert.True(stored.Length > 256 * 1024);

        using var client = await ConnectAsync(host);
        await client.AuthenticateAsync("alice", "secret", Ct);
        using var raw = await client.GetStreamAsync(0, headersOnly: false, Ct);
        using var copy = new MemoryStream();
        await raw.CopyToAsync(copy, Ct);
        Assert.Equal(stored, copy.ToArray());
    }

    [Fact]
    public async Task BadCommandsOverARawSocketGetErrAndTheLimitClosesTheConnection()
    {
        await using var host = await StartAsync(o => o.Pop3.MaxBadCommands = 3);
        using var socket = await RawAsync(host);
        Assert.Equal("+OK smtpd POP3 server ready", await socket.ReadLineAsync(Ct));
        await socket.WriteAsync("HELO\r\nRETR 1\r\n" + new string('A', 400) + "\r\n");
        Assert.Equal("-ERR unknown command", await socket.ReadLineAsync(Ct));
        Assert.Equal("-ERR command not valid before login", await socket.ReadLineAsync(Ct));
        Assert.Equal("-ERR line too long (255 octets at most, RFC 2449 section 4); too many bad commands, closing", await socket.ReadLineAsync(Ct));
        Assert.Null(await socket.ReadLineAsync(Ct));
    }

    [Fact]
    public async Task AnIdleClientIsLoggedOutAtTheTimeoutWithoutDeletingAnything()
    {
        var time = new FakeTimeProvider();
        await using var host = await StartAsync(o =>
        {
            o.Pop3.TimeProvider = time;
            o.Pop3.CommandTimeout = TimeSpan.FromMinutes(10);
        });
        await host.SendSimpleAsync("stays");
        using var socket = await RawAsync(host);
        Assert.Equal("+OK smtpd POP3 server ready", await socket.ReadLineAsync(Ct));
        await socket.WriteAsync("USER alice\r\nPASS secret\r\nDELE 1\r\n");
        Assert.Equal("+OK send PASS", await socket.ReadLineAsync(Ct));
        Assert.Equal("+OK 1 message(s) in the maildrop", await socket.ReadLineAsync(Ct));
        Assert.Equal("+OK message marked as deleted", await socket.ReadLineAsync(Ct));

        // The deadline was fixed before the last response was flushed, so this advance passes it.
        time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal("-ERR autologout: idle for too long", await socket.ReadLineAsync(Ct));
        Assert.Null(await socket.ReadLineAsync(Ct));
        Assert.Equal(1, (await host.GetJsonAsync("/api/v1/messages")).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task AConnectionOverTheLimitIsRefusedWithSysTemp()
    {
        await using var host = await StartAsync(o => o.Pop3.MaxConnections = 1);
        using var first = await RawAsync(host);
        Assert.Equal("+OK smtpd POP3 server ready", await first.ReadLineAsync(Ct));
        using var second = await RawAsync(host);
        Assert.Equal("-ERR [SYS/TEMP] too many connections; try again later", await second.ReadLineAsync(Ct));
        Assert.Null(await second.ReadLineAsync(Ct));
    }

    [Fact]
    public async Task StoppingTheCatcherEndsAnIdleSessionWithSysTemp()
    {
        var host = await StartAsync();
        using var socket = await RawAsync(host);
        Assert.Equal("+OK smtpd POP3 server ready", await socket.ReadLineAsync(Ct));
        var stopped = host.DisposeAsync().AsTask();
        Assert.Equal("-ERR [SYS/TEMP] the server is shutting down", await socket.ReadLineAsync(Ct));
        await stopped;
    }

    [Fact]
    public void PopWithoutAStoreIsAConfigurationError()
    {
        var options = new CatcherOptions();
        options.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));
        options.Pop3.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        var catcher = new MailCatcher(options);
        var error = Assert.Throws<CatcherConfigurationException>(catcher.Start);
        Assert.Equal(nameof(CatcherOptions.Pop3), error.Setting);
        Assert.Empty(catcher.Listeners);
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
    }

    private static async Task<RawPop3> RawAsync(CatcherHost host)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(host.Catcher.Pop3EndPoints[0], Ct);
        return new RawPop3(tcp);
    }

    private sealed class RawPop3(TcpClient tcp) : IDisposable
    {
        private readonly StreamReader _reader = new(tcp.GetStream(), Encoding.ASCII);

        public Task<string?> ReadLineAsync(CancellationToken cancellationToken) => _reader.ReadLineAsync(cancellationToken).AsTask();

        public Task WriteAsync(string text) => tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes(text), Ct).AsTask();

        public void Dispose()
        {
            _reader.Dispose();
            tcp.Dispose();
        }
    }
}
