using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Smtpd.Tests.Integration;

/// <summary>
/// The HAProxy PROXY protocol on a listener, over real loopback sockets: the client the header names is what every
/// callback, the per-client limit and the log see; anything but a good header from a trusted proxy is closed
/// without a reply.
/// </summary>
public sealed class ProxyProtocolTests
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("203.0.113.7"), 41000);
    private static readonly IPEndPoint Destination = new(IPAddress.Parse("198.51.100.25"), 25);

    private static SmtpListener ProxyListener(string trusted = "127.0.0.0/8", bool implicitTls = false) =>
        new(new IPEndPoint(IPAddress.Loopback, 0), implicitTls) { ProxyProtocol = true, TrustedProxies = [IPNetwork.Parse(trusted)] };

    private static byte[] V1(IPEndPoint source, IPEndPoint destination) => Encoding.ASCII.GetBytes(
        $"PROXY TCP{(source.AddressFamily == AddressFamily.InterNetworkV6 ? 6 : 4)} {source.Address} {destination.Address} {source.Port} {destination.Port}\r\n");

    private static byte[] V2(IPEndPoint source, IPEndPoint destination, params byte[][] tlvs)
    {
        var ipv6 = source.AddressFamily == AddressFamily.InterNetworkV6;
        var ports = new byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(ports, (ushort)source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(ports.AsSpan(2), (ushort)destination.Port);
        byte[] body = [.. source.Address.GetAddressBytes(), .. destination.Address.GetAddressBytes(), .. ports, .. tlvs.SelectMany(t => t)];
        return [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, (byte)(ipv6 ? 0x21 : 0x11), (byte)(body.Length >> 8), (byte)body.Length, .. body];
    }

    private static byte[] Tlv(int type, string value) => [(byte)type, 0, (byte)value.Length, .. Encoding.ASCII.GetBytes(value)];

    /// <summary>Connects, sends the header, and reads the greeting.</summary>
    private static async Task<(RawSmtpClient Client, string Greeting)> ConnectThroughProxyAsync(TestServer server, byte[] header)
    {
        var client = await server.ConnectAsync();
        await client.SendAsync(header);
        return (client, await client.ReadReplyAsync());
    }

    /// <summary>Reads until the server closes the connection and returns what it sent; fails if it stays open.</summary>
    private static async Task<byte[]> ReceiveUntilClosedAsync(Socket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        var received = new List<byte>();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (read == 0)
                {
                    return [.. received];
                }

                received.AddRange(buffer.AsSpan(0, read));
            }
        }
        catch (SocketException)
        {
            return [.. received];
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"The server kept the connection open; it sent: {Encoding.Latin1.GetString([.. received])}");
            throw;
        }
    }

    /// <summary>A server with an implicit-TLS PROXY listener; the sessions its ValidateHost saw are collected.</summary>
    private static (TestServer Server, System.Collections.Concurrent.ConcurrentQueue<SmtpSessionContext> Sessions) StartImplicitTlsProxyServer()
    {
        var sessions = new System.Collections.Concurrent.ConcurrentQueue<SmtpSessionContext>();
        var server = TestServer.Start(
            o =>
            {
                o.ServerCertificate = TestCertificates.Localhost;
                o.ValidateHost = (session, _) =>
                {
                    sessions.Enqueue(session);
                    return ValueTask.FromResult(SmtpVerdict.Accept);
                };
            },
            ProxyListener(implicitTls: true));
        return (server, sessions);
    }

    private static async Task WaitForSessionCountAsync(SmtpServer server, int count)
    {
        var deadline = Stopwatch.StartNew();
        while (server.SessionCount != count)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), $"{server.SessionCount} sessions open, expected {count}");
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task AVersion1HeaderFromATrustedProxyMakesItsClientWhatEveryCallbackSees()
    {
        var seen = new ConcurrentQueue<(string Callback, IPEndPoint Remote, IPEndPoint Local, IPEndPoint? Proxy)>();
        await using var server = TestServer.Start(
            o =>
            {
                o.ValidateHost = (session, _) => Seen("host", session);
                o.ValidateSender = (session, _, _) => Seen("sender", session);
                o.ValidateRecipient = (session, _, _) => Seen("recipient", session);
            },
            ProxyListener());

        await using var client = await server.ConnectAsync();
        await client.SendAsync(V1(Client, Destination));
        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.CommandAsync("EHLO client.example"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("Subject: hi\r\n\r\nHello\r\n."));
        var message = await server.WaitForMessageAsync();

        var proxy = (IPEndPoint)client.Socket.LocalEndPoint!;
        Assert.Equal(["host", "sender", "recipient"], seen.Select(s => s.Callback));
        Assert.All(seen, s => Assert.Equal((Client, Destination, (IPEndPoint?)proxy), (s.Remote, s.Local, s.Proxy)));
        Assert.Equal(Client, message.Session.RemoteEndPoint);
        Assert.Equal(proxy, message.Session.ProxyEndPoint);
        Assert.Equal(1, message.Session.ProxyHeader!.Version);
        Assert.Equal($"{message.Session.Id} {Client} via {proxy}", message.Session.ToString());

        ValueTask<SmtpVerdict> Seen(string callback, SmtpSessionContext session)
        {
            seen.Enqueue((callback, session.RemoteEndPoint, session.LocalEndPoint, session.ProxyEndPoint));
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }
    }

    [Fact]
    public async Task AVersion2HeaderWithTlvsGivesCallbacksTheClientAndTheTlvs()
    {
        var client6 = new IPEndPoint(IPAddress.Parse("2001:db8::7"), 50000);
        var destination6 = new IPEndPoint(IPAddress.Parse("2001:db8::25"), 465);
        SmtpSessionContext? seen = null;
        await using var server = TestServer.Start(o => o.ValidateHost = (session, _) =>
        {
            seen = session;
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }, ProxyListener());

        var (client, greeting) = await ConnectThroughProxyAsync(server, V2(client6, destination6, Tlv(0x02, "mx.example.com"), Tlv(0x01, "smtp")));
        await using var _ = client;

        Assert.StartsWith("220 ", greeting);
        Assert.Equal(client6, seen!.RemoteEndPoint);
        Assert.Equal(destination6, seen.LocalEndPoint);
        Assert.Equal(2, seen.ProxyHeader!.Version);
        Assert.Equal("mx.example.com", seen.ProxyHeader.Authority);
        Assert.Equal("smtp", seen.ProxyHeader.Alpn);
    }

    [Fact]
    public async Task AnIPv4MappedClientInTheHeaderIsSeenAsIPv4()
    {
        SmtpSessionContext? seen = null;
        await using var server = TestServer.Start(o => o.ValidateHost = (session, _) =>
        {
            seen = session;
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }, ProxyListener());

        var (client, greeting) = await ConnectThroughProxyAsync(server, "PROXY TCP6 ::ffff:203.0.113.7 ::ffff:198.51.100.25 41000 25\r\n"u8.ToArray());
        await using var _ = client;

        Assert.StartsWith("220 ", greeting);
        Assert.Equal(Client, seen!.RemoteEndPoint);
        Assert.Equal(Destination, seen.LocalEndPoint);
    }

    [Fact]
    public async Task TclStyleHostValidationJudgesTheAddressInTheHeaderNotTheProxy()
    {
        var blocked = IPNetwork.Parse("203.0.113.0/24");
        await using var server = TestServer.Start(o => o.ValidateHost = (session, _) => ValueTask.FromResult(
            blocked.Contains(session.RemoteEndPoint.Address) ? SmtpVerdict.Reject("blocked network") : SmtpVerdict.Accept), ProxyListener());

        var (rejected, rejection) = await ConnectThroughProxyAsync(server, V1(Client, Destination));
        var (accepted, greeting) = await ConnectThroughProxyAsync(server, V2(new IPEndPoint(IPAddress.Parse("192.0.2.44"), 1234), Destination));
        await using var _ = rejected;
        await using var __ = accepted;

        Assert.Equal("550 Access denied: blocked network", rejection);
        Assert.StartsWith("503 ", await rejected.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.StartsWith("220 ", greeting);
    }

    [Fact]
    public async Task AHeaderAndTheFirstCommandsInOneSegmentAreBothRead()
    {
        await using var server = TestServer.Start(listener: ProxyListener());
        await using var client = await server.ConnectAsync();

        await client.SendAsync((byte[])[.. V1(Client, Destination), .. "EHLO client.example\r\nNOOP\r\n"u8]);

        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        Assert.StartsWith("250-", await client.ReadReplyAsync());
        Assert.StartsWith("250 2.0.0", await client.ReadReplyAsync());
    }

    [Fact]
    public async Task ALocalHeaderKeepsTheSocketsAddresses()
    {
        SmtpSessionContext? seen = null;
        await using var server = TestServer.Start(o => o.ValidateHost = (session, _) =>
        {
            seen = session;
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }, ProxyListener());

        var (client, greeting) = await ConnectThroughProxyAsync(server, [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00]);
        await using var _ = client;

        Assert.StartsWith("220 ", greeting);
        Assert.Equal(client.Socket.LocalEndPoint, seen!.RemoteEndPoint);
        Assert.Equal(client.Socket.LocalEndPoint, seen.ProxyEndPoint);
        Assert.Equal(server.EndPoint, seen.LocalEndPoint);
        Assert.True(seen.ProxyHeader!.IsLocal);
    }

    [Fact]
    public async Task AConnectionFromOutsideTheTrustedProxiesIsClosedWithoutAReply()
    {
        var called = false;
        await using var server = TestServer.Start(o => o.ValidateHost = (_, _) =>
        {
            called = true;
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }, ProxyListener(trusted: "192.0.2.0/24"));
        await using var client = await server.ConnectAsync();

        // A well-formed header does not help a sender that is not trusted to send one.
        await client.SendAsync(V1(Client, Destination));

        Assert.Empty(await ReceiveUntilClosedAsync(client.Socket));
        Assert.False(called);
    }

    [Theory]
    [InlineData("EHLO client.example\r\n")]
    [InlineData("PROXY TCP4 203.0.113.300 198.51.100.25 41000 25\r\n")]
    [InlineData("PROXY TCP4 203.0.113.7 198.51.100.25 41000 25\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]
    public async Task AMalformedHeaderIsClosedWithoutAReply(string input)
    {
        var called = false;
        await using var server = TestServer.Start(o => o.ValidateHost = (_, _) =>
        {
            called = true;
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }, ProxyListener());
        await using var client = await server.ConnectAsync();

        await client.SendAsync(input);

        Assert.Empty(await ReceiveUntilClosedAsync(client.Socket));
        Assert.False(called);
    }

    [Fact]
    public async Task AVersion2HeaderWithATlvOverrunIsClosedWithoutAReply()
    {
        await using var server = TestServer.Start(listener: ProxyListener());
        await using var client = await server.ConnectAsync();
        var header = V2(Client, Destination, Tlv(0x02, "mx.example.com"));
        header[^15] = 0x40;

        await client.SendAsync(header);

        Assert.Empty(await ReceiveUntilClosedAsync(client.Socket));
    }

    [Fact]
    public async Task AHeaderTrickledPastTheDeadlineIsClosedAtTheDeadline()
    {
        var time = new TestClock();
        await using var server = TestServer.StartWithClock(time, listener: ProxyListener());
        var timeout = server.Server.Options.TlsHandshakeTimeout;
        var header = V1(Client, Destination);
        var reads = time.Reads;
        await using var client = await server.ConnectAsync();
        await time.WaitForReadAfterAsync(reads);
        var closed = ReceiveUntilClosedAsync(client.Socket);

        // Each part arrives in time for a read of its own, but the deadline covers the whole header.
        await client.SendAsync(header.AsMemory(0, 10));
        time.Advance(timeout / 2);
        await client.SendAsync(header.AsMemory(10, 10));
        time.Advance(timeout / 2);

        Assert.Empty(await closed);
        await WaitForSessionCountAsync(server.Server, 0);
    }

    [Fact]
    public async Task AHeaderCompletedJustBeforeTheDeadlineGetsTheGreeting()
    {
        var time = new TestClock();
        await using var server = TestServer.StartWithClock(time, listener: ProxyListener());
        var header = V1(Client, Destination);
        var reads = time.Reads;
        await using var client = await server.ConnectAsync();
        await time.WaitForReadAfterAsync(reads);

        await client.SendAsync(header.AsMemory(0, 10));
        time.Advance(server.Server.Options.TlsHandshakeTimeout - TimeSpan.FromMilliseconds(1));
        await client.SendAsync(header.AsMemory(10));

        Assert.StartsWith("220 ", await client.ReadReplyAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoHeaderAtAllIsClosedAtTheDeadlineWithoutAGreeting()
    {
        var time = new TestClock();
        await using var server = TestServer.StartWithClock(time, listener: ProxyListener());
        var reads = time.Reads;
        await using var client = await server.ConnectAsync();
        await time.WaitForReadAfterAsync(reads);

        time.Advance(server.Server.Options.TlsHandshakeTimeout);

        Assert.Empty(await ReceiveUntilClosedAsync(client.Socket));
        await WaitForSessionCountAsync(server.Server, 0);
    }

    [Fact]
    public async Task AHeaderThenImplicitTlsWorks()
    {
        var (server, sessions) = StartImplicitTlsProxyServer();
        await using var running = server;
        await using var client = await server.ConnectAsync();

        await client.SendAsync(V1(Client, Destination));
        await client.StartTlsAsync();

        Assert.StartsWith("220 ", await client.ReadReplyAsync());
        Assert.StartsWith("250-", await client.CommandAsync("EHLO client.example"));
        var seen = Assert.Single(sessions);
        Assert.True(seen.IsSecure);
        Assert.Equal(Client, seen.RemoteEndPoint);
    }

    [Fact]
    public async Task AHeaderAndTheClientHelloInOneSegmentStillHandshake()
    {
        var (server, sessions) = StartImplicitTlsProxyServer();
        await using var running = server;
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.EndPoint, TestContext.Current.CancellationToken);
        await using var network = new NetworkStream(socket, ownsSocket: false);
        await using var tls = new SslStream(new HeaderThenWrites(V2(Client, Destination), network));

        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", RemoteCertificateValidationCallback = static (_, _, _, _) => true }, TestContext.Current.CancellationToken);
        var buffer = new byte[512];
        var read = await tls.ReadAsync(buffer, TestContext.Current.CancellationToken);

        Assert.StartsWith("220 ", Encoding.ASCII.GetString(buffer, 0, read));
        var seen = Assert.Single(sessions);
        Assert.Equal(Client, seen.RemoteEndPoint);
        Assert.True(seen.IsSecure);
    }

    [Fact]
    public async Task PerClientLimitsCountTheClientsBehindTheProxyNotTheProxy()
    {
        await using var server = TestServer.Start(o => o.MaxSessionsPerClient = 2, ProxyListener());
        var open = new List<RawSmtpClient>();
        try
        {
            // Three different clients through one proxy address: the proxy is not one client.
            for (var i = 1; i <= 3; i++)
            {
                var (other, greeting) = await ConnectThroughProxyAsync(server, V1(new IPEndPoint(IPAddress.Parse($"192.0.2.{i}"), 1000 + i), Destination));
                open.Add(other);
                Assert.StartsWith("220 ", greeting);
            }

            // The same real client twice is fine; the third time it is refused after its header.
            var (first, firstGreeting) = await ConnectThroughProxyAsync(server, V1(Client, Destination));
            var (second, secondGreeting) = await ConnectThroughProxyAsync(server, V2(Client, Destination));
            open.Add(first);
            open.Add(second);
            Assert.StartsWith("220 ", firstGreeting);
            Assert.StartsWith("220 ", secondGreeting);
            var (third, thirdGreeting) = await ConnectThroughProxyAsync(server, V1(Client, Destination));
            await using (third)
            {
                Assert.StartsWith("421 ", thirdGreeting);
                Assert.True(await third.IsClosedByServerAsync());
            }

            // Its slot is released under the real client's address when a session ends.
            Assert.StartsWith("221 ", await first.CommandAsync("QUIT"));
            await WaitForSessionCountAsync(server.Server, 4);
            var (again, againGreeting) = await ConnectThroughProxyAsync(server, V1(Client, Destination));
            open.Add(again);
            Assert.StartsWith("220 ", againGreeting);
        }
        finally
        {
            foreach (var client in open)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AProxyLineOnAPlainListenerIsAnUnknownCommandAsBefore()
    {
        await using var server = TestServer.Start();
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;

        Assert.StartsWith("220 ", greeting);
        Assert.Equal("500 Command unrecognized", await client.CommandAsync("PROXY TCP4 203.0.113.7 198.51.100.25 41000 25"));
    }

    [Fact]
    public async Task TheSessionStartLogNamesTheRealClientAndTheProxy()
    {
        var logs = new CapturingLoggerProvider();
        await using var server = new SmtpServer(new SmtpServerOptions(), logs);
        server.Start(ProxyListener());
        await using var client = await RawSmtpClient.ConnectAsync(server.Endpoints[0]);
        await client.SendAsync(V1(Client, Destination));
        var greeting = await client.ReadReplyAsync();
        await using var bad = await RawSmtpClient.ConnectAsync(server.Endpoints[0]);
        await bad.SendAsync("HELO x\r\n");
        Assert.Empty(await ReceiveUntilClosedAsync(bad.Socket));

        Assert.StartsWith("220 ", greeting);
        var proxy = client.Socket.LocalEndPoint!.ToString();
        var started = Assert.Single(logs.Entries, e => e.Message.StartsWith("Session started", StringComparison.Ordinal));
        Assert.Equal($"Session started from {Client} via proxy {proxy}", started.Message);
        Assert.True(started.Scope.ContainsKey("SessionId"));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Message == $"PROXY protocol header from {bad.Socket.LocalEndPoint} refused, connection closed: NotProxyProtocol");
    }

    [Fact]
    public void AProxyProtocolListenerWithoutTrustedProxiesIsRefusedAtStart()
    {
        var server = new SmtpServer();
        var listener = new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)) { ProxyProtocol = true };

        var error = Assert.Throws<ArgumentException>(() => server.Start(listener));

        Assert.Contains("TrustedProxies", error.Message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:0", error.Message, StringComparison.Ordinal);
        Assert.False(server.IsRunning);
    }

    [Fact]
    public void AListenerDescribesItsProxyProtocolAndTrustedProxies()
    {
        var listener = new SmtpListener(new IPEndPoint(IPAddress.Loopback, 25), ImplicitTls: true)
        {
            ProxyProtocol = true,
            TrustedProxies = [IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("2001:db8::/32")],
        };

        Assert.Equal("127.0.0.1:25 (implicit TLS) (PROXY protocol from 10.0.0.0/8, 2001:db8::/32)", listener.ToString());
        Assert.Equal("127.0.0.1:25", new SmtpListener(new IPEndPoint(IPAddress.Loopback, 25)).ToString());
    }

    [Fact]
    public void TrustedProxiesMatchIPv4PeersInEitherForm()
    {
        var listener = new SmtpListener(new IPEndPoint(IPAddress.Any, 25)) { ProxyProtocol = true, TrustedProxies = [IPNetwork.Parse("10.1.0.0/16"), IPNetwork.Parse("::ffff:192.0.2.0/120")] };

        Assert.True(listener.IsTrustedProxy(IPAddress.Parse("10.1.2.3")));
        Assert.True(listener.IsTrustedProxy(IPAddress.Parse("::ffff:10.1.2.3")));
        Assert.True(listener.IsTrustedProxy(IPAddress.Parse("192.0.2.9")));
        Assert.False(listener.IsTrustedProxy(IPAddress.Parse("10.2.0.1")));
        Assert.False(listener.IsTrustedProxy(IPAddress.Parse("2001:db8::1")));
    }

    /// <summary>Sends the PROXY header in the same write as the TLS client's first record, as a proxy may.</summary>
    private sealed class HeaderThenWrites(byte[] header, Stream inner) : Stream
    {
        private byte[]? _header = header;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Interlocked.Exchange(ref _header, null) is { } header)
            {
                await inner.WriteAsync((byte[])[.. header, .. buffer.Span], cancellationToken);
                return;
            }

            await inner.WriteAsync(buffer, cancellationToken);
        }
    }
}
