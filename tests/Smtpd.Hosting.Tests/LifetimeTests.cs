using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Smtpd.Hosting.Tests;

public sealed class LifetimeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheServerStartsWithTheHostAndStopsWithIt()
    {
        await using var host = TestHost.Build();
        var server = host.Server;
        Assert.False(server.IsRunning);

        await host.Host.StartAsync(Ct);
        Assert.True(server.IsRunning);
        Assert.Equal(IPAddress.Loopback, host.EndPoint.Address);
        Assert.Equal("2.0.0 Message accepted", await host.SendAsync());
        var port = host.EndPoint.Port;

        await host.Host.StopAsync(Ct);
        Assert.False(server.IsRunning);
        Assert.True(server.Stopped.IsCompleted);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(IPAddress.Loopback, port, Ct).AsTask());
    }

    [Fact]
    public async Task TheRunningServerIsASingletonInTheContainer()
    {
        await using var host = await TestHost.StartAsync();

        Assert.Same(host.Host.Services.GetRequiredService<SmtpServer>(), host.Server);
        Assert.Single(host.Host.Services.GetServices<IHostedService>());
    }

    [Fact]
    public async Task LogsGoToTheHostsLoggers()
    {
        await using var host = await TestHost.StartAsync();
        await host.SendAsync();

        Assert.Contains(host.Logs.Entries, e => e.Category == "Smtpd.SmtpServer" && e.Message.Contains($"listening on 127.0.0.1:{host.EndPoint.Port}", StringComparison.Ordinal));
        Assert.Contains(host.Logs.Entries, e => e.Category == "Smtpd.SmtpServer" && e.Message.StartsWith("Message accepted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StoppingLetsASessionInTheMiddleOfADeliveryFinish()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handling = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var host = await TestHost.StartAsync(
            services: s => s.AddSingleton(new Gate(handling, release)),
            smtpd: b => b.AddMessageHandler<GatedHandler>(),
            shutdownTimeout: TimeSpan.FromSeconds(10));
        using var client = await host.ConnectAsync();
        var sending = client.SendAsync(TestHost.NewMessage(), Ct);
        await handling.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);

        var clock = Stopwatch.StartNew();
        var stopping = host.Host.StopAsync(Ct);
        await Task.Delay(100, Ct);
        Assert.False(stopping.IsCompleted);
        Assert.False(host.Server.IsRunning);

        release.SetResult();
        Assert.StartsWith("2.0.0", await sending, StringComparison.Ordinal);
        await client.DisconnectAsync(true, Ct);
        await stopping.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"Stopping took {clock.Elapsed}.");
    }

    [Fact]
    public async Task SessionsStillOpenWhenTheHostsShutdownTimeoutRunsOutGet421()
    {
        await using var host = await TestHost.StartAsync(shutdownTimeout: TimeSpan.FromMilliseconds(300));
        await using var client = await OpenTransactionAsync(host);

        var clock = Stopwatch.StartNew();
        await host.Host.StopAsync(CancellationToken.None);
        clock.Stop();

        // The drain waits for the open transaction until the host's timeout, then cuts it off.
        Assert.InRange(clock.ElapsedMilliseconds, 250, 5000);
        Assert.Equal("421 4.3.2 Service shutting down, closing connection", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task DrainTimeoutCutsTheDrainShorterThanTheHostsTimeout()
    {
        await using var host = await TestHost.StartAsync(
            settings: new Dictionary<string, string?> { ["Smtpd:DrainTimeout"] = "00:00:00.2" },
            shutdownTimeout: TimeSpan.FromSeconds(30));
        await using var client = await OpenTransactionAsync(host);

        var clock = Stopwatch.StartNew();
        await host.Host.StopAsync(Ct);

        Assert.InRange(clock.ElapsedMilliseconds, 150, 5000);
        Assert.StartsWith("421", await client.ReadReplyAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnIdleSessionIsClosedWith421AsSoonAsTheHostStops()
    {
        await using var host = await TestHost.StartAsync(shutdownTimeout: TimeSpan.FromSeconds(30));
        var (idle, greeting) = await RawSmtpClient.ConnectAndGreetAsync(host.EndPoint);
        await using var _ = idle;
        Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);

        var clock = Stopwatch.StartNew();
        await host.Host.StopAsync(Ct);

        // No transaction is open, so the drain has nothing to wait for.
        Assert.InRange(clock.ElapsedMilliseconds, 0, 10_000);
        Assert.Equal("421 Service shutting down, closing connection", await idle.ReadReplyAsync());
        Assert.True(await idle.IsClosedByServerAsync());
    }

    /// <summary>Reads the greeting, sends EHLO and MAIL, so that the session is in a transaction a drain waits for.</summary>
    private static async Task<RawSmtpClient> OpenTransactionAsync(TestHost host)
    {
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(host.EndPoint);
        Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await client.CommandAsync("MAIL FROM:<a@example.com>"), StringComparison.Ordinal);
        return client;
    }

    [Fact]
    public async Task AnEndpointThatCannotBeBoundFailsTheStart()
    {
        await using var first = await TestHost.StartAsync();
        await using var second = TestHost.Build(new Dictionary<string, string?>
        {
            ["Smtpd:Endpoints:0:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:0:Port"] = first.EndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        var error = await Assert.ThrowsAsync<SocketException>(() => second.Host.StartAsync(Ct));
        Assert.Equal(SocketError.AddressAlreadyInUse, error.SocketErrorCode);
    }

    [Fact]
    public async Task AHostNameListensOnEveryAddressItResolvesTo()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Smtpd:Endpoints:0:Address"] = "localhost",
            ["Smtpd:Endpoints:0:Port"] = "0",
        });

        Assert.Contains(host.Server.Endpoints, e => e.Address.Equals(IPAddress.Loopback));
        Assert.All(host.Server.Endpoints, e => Assert.True(IPAddress.IsLoopback(e.Address)));
    }

    public sealed record Gate(TaskCompletionSource Handling, TaskCompletionSource Release);

    private sealed class GatedHandler(Gate gate) : ISmtpMessageHandler
    {
        public async ValueTask<SmtpVerdict> HandleAsync(SmtpMessage message, CancellationToken cancellationToken)
        {
            gate.Handling.TrySetResult();
            await gate.Release.Task;
            return SmtpVerdict.Accept;
        }
    }
}
