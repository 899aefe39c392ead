using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Smtpd.Tests.Integration;

/// <summary>
/// Starting, stopping and restarting servers (Tcl <c>::smtpd::start</c>, <c>::smtpd::stop</c> and the
/// <c>::smtpd::stopped</c> variable), several listeners and several servers per process, and live options.
/// </summary>
public sealed class ServerLifecycleTests
{
    private const string ShuttingDown421 = "421 4.3.2 Service shutting down, closing connection";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task StartWithPortZeroExposesTheRealPortInEndpoints()
    {
        await using var server = new SmtpServer(new SmtpServerOptions { ServerName = "zero.test" });
        Assert.Empty(server.Endpoints);
        Assert.False(server.IsRunning);

        server.Start(IPAddress.Loopback, 0);

        Assert.True(server.IsRunning);
        var endpoint = Assert.Single(server.Endpoints);
        Assert.Equal(IPAddress.Loopback, endpoint.Address);
        Assert.NotEqual(0, endpoint.Port);
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(endpoint);
        await using var _ = client;
        Assert.Equal("220 zero.test ESMTP Smtpd ready", greeting);
    }

    [Fact]
    public async Task OneServerListensOnSeveralEndpointsAtOnce()
    {
        var received = new ConcurrentQueue<SmtpMessage>();
        var localEndPoints = new ConcurrentQueue<IPEndPoint>();
        await using var server = new SmtpServer(new SmtpServerOptions
        {
            ServerName = "multi.test",
            Deliver = (message, _) =>
            {
                localEndPoints.Enqueue(message.Session.LocalEndPoint);
                received.Enqueue(message);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            },
        });
        var requested = new List<IPEndPoint> { new(IPAddress.Loopback, 0), new(IPAddress.Loopback, 0) };
        if (Socket.OSSupportsIPv6)
        {
            requested.Add(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        }

        server.Start([.. requested]);

        Assert.Equal(requested.Count, server.Endpoints.Count);
        Assert.Equal(requested.Select(e => e.Address), server.Endpoints.Select(e => e.Address));
        Assert.All(server.Endpoints, e => Assert.NotEqual(0, e.Port));
        Assert.NotEqual(server.Endpoints[0].Port, server.Endpoints[1].Port);
        foreach (var endpoint in server.Endpoints)
        {
            await using var client = await RawSmtpClient.ConnectAsync(endpoint);
            Assert.Equal("220 multi.test ESMTP Smtpd ready", await client.ReadReplyAsync());
            Assert.StartsWith("250-", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
            Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, $"to-port-{endpoint.Port}@example.com"));
        }

        // Each message came in through the listener it was sent to.
        Assert.Equal(server.Endpoints, localEndPoints);
        Assert.Equal(server.Endpoints.Select(e => $"to-port-{e.Port}@example.com"), received.Select(m => m.Envelope.Recipients.Single().Address));
    }

    [Fact]
    public async Task StartOnAHostNameListensOnTheAddressesItResolvesTo()
    {
        await using var server = new SmtpServer(new SmtpServerOptions { ServerName = "named.test" });

        server.Start("localhost", 0);

        Assert.NotEmpty(server.Endpoints);
        Assert.All(server.Endpoints, e => Assert.True(IPAddress.IsLoopback(e.Address)));
        foreach (var endpoint in server.Endpoints)
        {
            var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(endpoint);
            await using var _ = client;
            Assert.Equal("220 named.test ESMTP Smtpd ready", greeting);
        }
    }

    [Fact]
    public async Task SeveralIndependentServersRunAtOnceInOneProcess()
    {
        var servers = Enumerable.Range(0, 3).Select(i => TestServer.Start(o => o.Banner = $"server number {i}")).ToArray();
        try
        {
            Assert.Equal(3, servers.Select(s => s.Port).Distinct().Count());
            await Task.WhenAll(servers.Select(async (server, i) =>
            {
                var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
                await using var _ = client;
                Assert.Equal($"220 test.local server number {i}", greeting);
                Assert.StartsWith("250-", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
                Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, $"for-server-{i}@example.com"));
            }));

            for (var i = 0; i < servers.Length; i++)
            {
                Assert.Equal($"for-server-{i}@example.com", Assert.Single(servers[i].Messages).Envelope.Recipients.Single().Address);
            }

            // Stopping one leaves the others running.
            await servers[0].Server.StopAsync();
            Assert.False(servers[0].Server.IsRunning);
            await using var still = await servers[1].ConnectAndEhloAsync();
            Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(still, "again@example.com"));
            Assert.Equal(2, servers[1].Messages.Count);
        }
        finally
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task StopAsyncReleasesTheListeningSocketWhileAnOpenSessionCarriesOnAndDelivers()
    {
        await using var server = TestServer.Start();
        var endpoint = server.EndPoint;
        await using var client = await server.ConnectAndEhloAsync();

        await server.Server.StopAsync();

        Assert.False(server.Server.IsRunning);
        Assert.Empty(server.Server.Endpoints);
        Assert.True(server.Server.Stopped.IsCompletedSuccessfully);
        var refused = await Assert.ThrowsAsync<SocketException>(() => RawSmtpClient.ConnectAsync(endpoint));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);

        // Tcl smtpd: "stopping the server does not disconnect any currently active sessions".
        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "after-stop@example.com"));
        Assert.Equal("221 2.0.0 Bye", await client.CommandAsync("QUIT"));
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Equal("after-stop@example.com", Assert.Single(server.Messages).Envelope.Recipients.Single().Address);
    }

    [Fact]
    public async Task StopAsyncWithADrainTimeoutSends421ToSessionsStillOpenAfterItAndClosesThem()
    {
        var time = new TestClock();
        await using var server = TestServer.StartWithClock(time);
        await using var idle = await server.ConnectAndEhloAsync();
        await using var midData = await server.ConnectAndEhloAsync();
        await using var beforeEhlo = await server.ConnectAsync();
        Assert.StartsWith("220 ", await beforeEhlo.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal("250 2.1.0 Sender OK", await midData.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await midData.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await midData.CommandAsync("DATA"));
        await midData.SendAsync("Subject: unfinished\r\n\r\nhalf a message\r\n");
        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 3);

        // The drain waits for the unfinished message until its timeout (on the server's clock), and not less.
        var drainTimeout = TimeSpan.FromSeconds(30);
        var stopping = server.Server.StopAsync(drainTimeout, Ct);
        Assert.False(stopping.IsCompleted);
        time.Advance(drainTimeout - TimeSpan.FromMilliseconds(1));
        Assert.False(stopping.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await stopping.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.Equal(ShuttingDown421, await idle.ReadReplyAsync());
        Assert.Equal(ShuttingDown421, await midData.ReadReplyAsync());
        // Before EHLO there are no enhanced status codes.
        Assert.Equal("421 Service shutting down, closing connection", await beforeEhlo.ReadReplyAsync());
        Assert.True(await idle.IsClosedByServerAsync());
        Assert.True(await midData.IsClosedByServerAsync());
        Assert.True(await beforeEhlo.IsClosedByServerAsync());
        Assert.Equal(0, server.Server.SessionCount);
        Assert.True(server.Server.Stopped.IsCompletedSuccessfully);
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task ADrainLetsATransactionInFlightFinishThenSends421InsteadOfAnother()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var delivering = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var callbackCancelled = false;
        TestServer? test = null;
        await using var server = test = TestServer.Start(o => o.Deliver = async (message, ct) =>
        {
            delivering.TrySetResult();
            await release.Task;
            callbackCancelled = ct.IsCancellationRequested;
            test!.Record(new ReceivedMessage(message.Envelope, [], message.Session));
            return SmtpVerdict.Accept;
        });
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<sender@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<draining@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        // The end of data and the next transaction's MAIL, pipelined: the MAIL must not start a transaction.
        await client.SendAsync("Subject: in flight\r\n\r\nhello\r\n.\r\nMAIL FROM:<next@example.com>\r\n"u8.ToArray());
        await delivering.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        var stopping = server.Server.StopAsync(TimeSpan.FromSeconds(20), Ct);
        await Task.Delay(100, Ct);
        Assert.False(stopping.IsCompleted);
        release.SetResult();

        Assert.Equal("250 2.0.0 Message accepted", await client.ReadReplyAsync());
        Assert.Equal(ShuttingDown421, await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
        await stopping.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.False(callbackCancelled);
        Assert.Single(server.Messages);
    }

    [Fact]
    public async Task ADrainClosesSessionsWithNoTransactionAtOnceWithout421ForTheOnesInOne()
    {
        await using var server = TestServer.Start();
        await using var idle = await server.ConnectAndEhloAsync();
        await using var inTransaction = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await inTransaction.CommandAsync("MAIL FROM:<a@example.com>"));
        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 2);

        var stopping = server.Server.StopAsync(TimeSpan.FromSeconds(20), Ct);

        // The idle session is told at once, long before the drain timeout.
        Assert.Equal(ShuttingDown421, await idle.ReadReplyAsync(TimeSpan.FromSeconds(5)));
        Assert.True(await idle.IsClosedByServerAsync());
        // The one in a transaction hears nothing and may finish it.
        Assert.False(inTransaction.Socket.Poll(200_000, SelectMode.SelectRead));
        Assert.Equal("250 2.1.5 Recipient OK", await inTransaction.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await inTransaction.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Message accepted", await inTransaction.CommandAsync("Subject: x\r\n\r\nlate but in time\r\n."));
        Assert.Equal(ShuttingDown421, await inTransaction.ReadReplyAsync());
        Assert.True(await inTransaction.IsClosedByServerAsync());

        await stopping.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.True(server.Server.Stopped.IsCompletedSuccessfully);
        Assert.Single(server.Messages);
    }

    [Fact]
    public async Task StoppingANeverStartedServerDoesNothing()
    {
        await using var server = new SmtpServer();

        await server.StopAsync();
        await server.StopAsync(TimeSpan.Zero, Ct);

        Assert.False(server.IsRunning);
        Assert.Empty(server.Endpoints);
        Assert.False(server.Stopped.IsCompleted);
        // It can still be started afterwards.
        server.Start(IPAddress.Loopback, 0);
        Assert.True(server.IsRunning);
    }

    [Fact]
    public async Task StoppedCompletesWhenTheServerStops()
    {
        await using var server = new SmtpServer();
        server.Start(IPAddress.Loopback, 0);
        var stopped = server.Stopped;
        Assert.False(stopped.IsCompleted);

        var waiter = Task.Run(async () => await stopped, Ct);
        await Task.Delay(50, Ct);
        Assert.False(waiter.IsCompleted);
        await server.StopAsync();

        await waiter.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.True(stopped.IsCompletedSuccessfully);
        // Stopping again does nothing.
        await server.StopAsync();
        Assert.Same(stopped, server.Stopped);
    }

    [Fact]
    public async Task AServerRestartedAfterStopServesAgainOnTheSamePortWithANewStoppedTask()
    {
        var received = new ConcurrentQueue<string>();
        await using var server = new SmtpServer(new SmtpServerOptions
        {
            Deliver = (message, _) =>
            {
                received.Enqueue(message.Envelope.Recipients.Single().Address);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            },
        });
        server.Start(IPAddress.Loopback, 0);
        var endpoint = server.Endpoints[0];
        var firstStopped = server.Stopped;
        await using (var client = await ConnectAndEhloAsync(endpoint))
        {
            Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "first@example.com"));
            Assert.Equal("221 2.0.0 Bye", await client.CommandAsync("QUIT"));
            Assert.True(await client.IsClosedByServerAsync());
        }

        await server.StopAsync();
        Assert.True(firstStopped.IsCompletedSuccessfully);

        server.Start(endpoint);

        Assert.Equal(endpoint, Assert.Single(server.Endpoints));
        Assert.NotSame(firstStopped, server.Stopped);
        Assert.False(server.Stopped.IsCompleted);
        await using (var client = await ConnectAndEhloAsync(endpoint))
        {
            Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "second@example.com"));
        }

        Assert.Equal(["first@example.com", "second@example.com"], received);
        await server.StopAsync();
        Assert.True(server.Stopped.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task StartWhileRunningThrowsInvalidOperationExceptionAndChangesNothing()
    {
        await using var server = TestServer.Start();
        var endpoints = server.Server.Endpoints;

        Assert.Throws<InvalidOperationException>(() => server.Server.Start(IPAddress.Loopback, 0));
        Assert.Throws<InvalidOperationException>(() => server.Server.Start(new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.Loopback, 0)));

        Assert.Same(endpoints, server.Server.Endpoints);
        Assert.True(server.Server.IsRunning);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "still@example.com"));
    }

    [Fact]
    public async Task AStartThatCannotBindEveryEndpointLeavesNoneBound()
    {
        using var occupier = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        occupier.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        occupier.Listen();
        var occupied = (IPEndPoint)occupier.LocalEndPoint!;
        var free = FreeLoopbackEndPoint();
        await using var server = new SmtpServer();

        Assert.ThrowsAny<SocketException>(() => server.Start(free, occupied));

        Assert.False(server.IsRunning);
        Assert.Empty(server.Endpoints);
        // The endpoint that did bind was released again.
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(free);
        }

        server.Start(free);
        Assert.Equal(free, Assert.Single(server.Endpoints));
    }

    [Fact]
    public async Task OptionsChangedWhileRunningAffectOnlySessionsThatStartAfterwards()
    {
        var oldCallback = 0;
        var newCallback = 0;
        await using var server = TestServer.Start(o =>
        {
            o.Banner = "first banner";
            o.MaxRecipients = 3;
            o.MaxMessageSize = 100_000;
            o.Deliver = (_, _) =>
            {
                Interlocked.Increment(ref oldCallback);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
        });
        var (before, firstGreeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = before;
        Assert.Equal("220 test.local first banner", firstGreeting);
        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 1);

        server.Server.Options.Banner = "second banner";
        server.Server.Options.MaxRecipients = 1;
        server.Server.Options.MaxMessageSize = 2_000;
        server.Server.Options.Deliver = (_, _) =>
        {
            Interlocked.Increment(ref newCallback);
            return ValueTask.FromResult(SmtpVerdict.Accept);
        };

        // The session that was already open keeps the options it started with.
        Assert.Contains("250-SIZE 100000", await before.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
        Assert.Equal("250 2.1.0 Sender OK", await before.CommandAsync("MAIL FROM:<a@example.com>"));
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("250 2.1.5 Recipient OK", await before.CommandAsync($"RCPT TO:<r{i}@example.com>"));
        }

        Assert.Equal("452 4.5.3 Too many recipients", await before.CommandAsync("RCPT TO:<r3@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await before.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Message accepted", await before.CommandAsync("Subject: old\r\n\r\nold options\r\n."));

        // A new session gets the new ones.
        var (after, secondGreeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var __ = after;
        Assert.Equal("220 test.local second banner", secondGreeting);
        Assert.Contains("250-SIZE 2000", await after.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
        Assert.Equal("250 2.1.0 Sender OK", await after.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await after.CommandAsync("RCPT TO:<r0@example.com>"));
        Assert.Equal("452 4.5.3 Too many recipients", await after.CommandAsync("RCPT TO:<r1@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await after.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Message accepted", await after.CommandAsync("Subject: new\r\n\r\nnew options\r\n."));

        Assert.Equal(1, oldCallback);
        Assert.Equal(1, newCallback);
    }

    [Fact]
    public async Task DisposeAsyncStopsTheServerAndClosesOpenSessionsWith421()
    {
        var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        var endpoint = server.EndPoint;

        await server.Server.DisposeAsync();

        Assert.Equal(ShuttingDown421, await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
        Assert.False(server.Server.IsRunning);
        Assert.True(server.Server.Stopped.IsCompletedSuccessfully);
        await Assert.ThrowsAsync<SocketException>(() => RawSmtpClient.ConnectAsync(endpoint));
    }

    [Fact]
    public async Task AStopWithADrainAfterAPlainStopStillClosesTheSessionsThatOutlivedTheListener()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        await server.Server.StopAsync();
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));

        await server.Server.StopAsync(TimeSpan.Zero, Ct);

        Assert.Equal(ShuttingDown421, await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Equal(0, server.Server.SessionCount);
    }

    [Fact]
    public async Task ConnectionsOverTheSessionLimitsGet421AndTheOthersCarryOn()
    {
        await using var server = TestServer.Start(o => o.MaxSessionsPerClient = 1);
        await using var first = await server.ConnectAndEhloAsync();

        var (second, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using (second)
        {
            Assert.Equal("421 Too many connections from your address, try again later", greeting);
            Assert.True(await second.IsClosedByServerAsync());
        }

        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(first, "limited@example.com"));
        Assert.Equal("221 2.0.0 Bye", await first.CommandAsync("QUIT"));
        Assert.True(await first.IsClosedByServerAsync());

        // Once the first session has ended, the address may connect again.
        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 0);
        await using var third = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.0.0 OK", await third.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task ValidateHostSeesAnIPv4ClientAsIPv4WhenTheServerListensOnEveryInterface()
    {
        var addresses = new ConcurrentQueue<IPAddress>();
        await using var server = new SmtpServer(new SmtpServerOptions
        {
            ValidateHost = (session, _) =>
            {
                addresses.Enqueue(session.RemoteEndPoint.Address);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            },
        });
        server.Start(0);

        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(new IPEndPoint(IPAddress.Loopback, server.Endpoints[0].Port));
        await using var _ = client;

        Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
        // Tcl's validate_host gets the dotted quad; a rule such as "deny 192.168.1.*" must match IPv4 clients.
        Assert.Equal(IPAddress.Loopback, Assert.Single(addresses));
    }

    private static async Task<RawSmtpClient> ConnectAndEhloAsync(IPEndPoint endpoint)
    {
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(endpoint);
        Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
        Assert.StartsWith("250-", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
        return client;
    }

    private static async Task<string> SendMessageAsync(RawSmtpClient client, string recipient)
    {
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<sender@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync($"RCPT TO:<{recipient}>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        return await client.CommandAsync($"Subject: for {recipient}\r\n\r\nhello\r\n.");
    }

    private static IPEndPoint FreeLoopbackEndPoint()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return (IPEndPoint)socket.LocalEndPoint!;
    }
}
