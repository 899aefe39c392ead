using System.Net;
using System.Net.Sockets;
using System.Text;
using MailKit.Security;
using Smtpd.Catcher.Tests.Storage;
using Smtpd.Tests.Support;

namespace Smtpd.Cli.Tests;

/// <summary>
/// <c>--proxy-protocol</c> and <c>--trusted-proxy</c> on the real process, behind a real HAProxy that speaks PROXY v2
/// (<c>send-proxy-v2</c>; docs/scaling.md). Needs <c>haproxy</c> (.ci/setup-interop): skipped with the reason
/// without it outside CI, failed in CI. The client binds 127.0.0.2, HAProxy reaches the catcher from 127.0.0.1, so
/// the stored address tells the two apart by address, not only by port.
/// </summary>
public sealed class ProxyProtocolFlagTests
{
    /// <summary>A loopback address of its own for the client (Linux routes all of 127.0.0.0/8 to lo).</summary>
    private static readonly IPAddress ClientAddress = IPAddress.Parse("127.0.0.2");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task BehindHaproxyTheStoredClientIsTheRealClientNotHaproxy()
    {
        HaproxyProcess.RequireInstalled();
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--no-http", "--proxy-protocol", "--trusted-proxy", "127.0.0.1");
        await using var haproxy = await HaproxyProcess.StartAsync(catcher.EndPoint, "send-proxy-v2");

        var client = await SendThroughAsync(haproxy.EndPoint, "through haproxy");
        var message = await catcher.NextMessageAsync();

        Assert.Equal("through haproxy", message.GetProperty("subject").GetString());
        Assert.Equal(client.ToString(), message.GetProperty("client").GetString());
        // And in the store, as `smtpd list` reads it back.
        Assert.Equal([client.ToString()], await StoredClientsAsync(dir, dir.Database));
    }

    [Fact]
    public async Task APeerOutsideTheTrustListIsClosedWithoutAGreeting()
    {
        using var dir = new TestDirectory();
        // Only a documentation network is trusted, so this test's loopback connection is not.
        await using var catcher = await CatcherProcess.StartAsync(dir, "--no-http", "--proxy-protocol", "--trusted-proxy", "192.0.2.0/24");

        Assert.Equal(string.Empty, await ReadUntilClosedAsync(catcher.EndPoint, send: null));
        await AssertNothingStoredAsync(catcher, dir);
    }

    [Fact]
    public async Task ATrustedPeerThatSpeaksSmtpInsteadOfAHeaderIsClosedWithoutAGreeting()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--no-http", "--proxy-protocol", "--trusted-proxy", "127.0.0.0/8");

        // A client that bypasses the balancer sends a command where the header belongs: the specification forbids
        // guessing, so it is refused rather than served as a direct client.
        Assert.Equal(string.Empty, await ReadUntilClosedAsync(catcher.EndPoint, "EHLO direct.example\r\n"));
        await AssertNothingStoredAsync(catcher, dir);
    }

    [Fact]
    public async Task TheEnvironmentVariablesTurnItOnAndTheTrustListTakesCommaSeparatedNetworks()
    {
        HaproxyProcess.RequireInstalled();
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, ["--no-http"], new Dictionary<string, string>
        {
            ["SMTPD_PROXY_PROTOCOL"] = "true",
            ["SMTPD_TRUSTED_PROXY"] = "192.0.2.0/24, 127.0.0.1",
        });
        await using var haproxy = await HaproxyProcess.StartAsync(catcher.EndPoint, "send-proxy-v2");

        var client = await SendThroughAsync(haproxy.EndPoint, "from the environment");

        Assert.Equal(client.ToString(), (await catcher.NextMessageAsync()).GetProperty("client").GetString());
    }

    [Fact]
    public async Task TheConfigFileKeysTurnItOn()
    {
        using var dir = new TestDirectory();
        var config = dir.Combine("smtpd.conf");
        await File.WriteAllTextAsync(config, "proxy-protocol\ntrusted-proxy = 192.0.2.10\ntrusted-proxy = 198.51.100.0/24\n", Ct);
        await using var catcher = await CatcherProcess.StartAsync(dir, "--no-http", "--config", config);

        // On: a loopback peer, outside both trusted networks, gets no greeting (without the keys it would get 220).
        Assert.Equal(string.Empty, await ReadUntilClosedAsync(catcher.EndPoint, send: null));
    }

    [Fact]
    public async Task TwoCatchersOnOnePostgresDatabaseBehindHaproxyRecordTheRealClients()
    {
        HaproxyProcess.RequireInstalled();
        var database = await StoreBackend.CreateDatabaseAsync();
        using var dir = new TestDirectory();
        string[] flags = ["--no-http", "--db", database, "--proxy-protocol", "--trusted-proxy", "127.0.0.1"];
        await using var a = await CatcherProcess.StartAsync(dir, flags);
        await using var b = await CatcherProcess.StartAsync(dir, flags);
        await using var haproxy = await HaproxyProcess.StartAsync([a.EndPoint, b.EndPoint], "send-proxy-v2");

        // One connection per message, so HAProxy's round robin alternates the two catchers.
        var clients = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            clients.Add((await SendThroughAsync(haproxy.EndPoint, $"shared {i}")).ToString());
        }

        // Both instances took a share (the deployment under test is two writers, not one behind a proxy) ...
        Assert.Contains((await a.NextMessageAsync()).GetProperty("client").GetString(), clients);
        Assert.Contains((await b.NextMessageAsync()).GetProperty("client").GetString(), clients);
        // ... and the shared store holds every message once, each with the client HAProxy saw.
        Assert.Equal(clients.Order(StringComparer.Ordinal), (await StoredClientsAsync(dir, database)).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(new[] { "--proxy-protocol" }, "smtpd: --proxy-protocol: needs --trusted-proxy CIDR")]
    [InlineData(new[] { "--trusted-proxy", "10.0.0.0/8" }, "smtpd: --trusted-proxy: needs --proxy-protocol")]
    [InlineData(new[] { "--proxy-protocol", "--trusted-proxy", "10.0.0.0/33" }, "smtpd: --trusted-proxy: '10.0.0.0/33' is not a CIDR block")]
    [InlineData(new[] { "--proxy-protocol", "--trusted-proxy", "haproxy.internal" }, "smtpd: --trusted-proxy: 'haproxy.internal' is not a CIDR block")]
    [InlineData(new[] { "--proxy-protocol", "--trusted-proxy", "10.0.0.1/8" }, "smtpd: --trusted-proxy: '10.0.0.1/8' is not a CIDR block")]
    public async Task ABadOrIncompleteProxySettingGetsOneLineNamingTheFlagAndExitCode2(string[] args, string start)
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, [.. args, "--no-http", "--db", dir.Database], null);

        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(start, line, StringComparison.Ordinal);
        Assert.Empty(result.Stdout);
    }

    [Fact]
    public async Task ABadProxyEnvironmentVariableIsNamedWithItsFlag()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, ["--no-http", "--db", dir.Database], new Dictionary<string, string> { ["SMTPD_PROXY_PROTOCOL"] = "v2" });

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("smtpd: SMTPD_PROXY_PROTOCOL (--proxy-protocol): 'v2' is not true or false\n", result.Stderr);
    }

    [Fact]
    public async Task TheStartupLineSaysWhichProxiesAreTrusted()
    {
        using var dir = new TestDirectory();
        using var process = System.Diagnostics.Process.Start(SmtpdCli.StartInfo(dir, ["--listen", "127.0.0.1:0", "--no-http", "--db", dir.Database, "--proxy-protocol", "--trusted-proxy", "10.0.0.0/24"]))!;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            Assert.Contains("; PROXY protocol required from 10.0.0.0/24", line, StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(Ct);
        }
    }

    /// <summary>Sends one message through <paramref name="proxy"/> from <see cref="ClientAddress"/>; returns the client's endpoint as HAProxy saw it.</summary>
    private static async Task<IPEndPoint> SendThroughAsync(IPEndPoint proxy, string subject)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(ClientAddress, 0));
        await socket.ConnectAsync(proxy, Ct);
        var client = (IPEndPoint)socket.LocalEndPoint!;
        using var smtp = new MailKit.Net.Smtp.SmtpClient { Timeout = 30_000 };
        await smtp.ConnectAsync(socket, proxy.Address.ToString(), proxy.Port, SecureSocketOptions.None, Ct);
        await smtp.SendAsync(Mail.Simple(subject), Ct);
        await smtp.DisconnectAsync(quit: true, Ct);
        return client;
    }

    /// <summary>Connects, optionally sends <paramref name="send"/>, and returns everything the server wrote before it closed.</summary>
    private static async Task<string> ReadUntilClosedAsync(IPEndPoint endPoint, string? send)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endPoint, Ct);
        if (send is not null)
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(send), SocketFlags.None, Ct);
        }

        // Bounded only so a regression fails instead of hanging: the server closes at once, well inside it.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        var received = new StringBuilder();
        var buffer = new byte[512];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Closed with unread input: a reset is a close too.
        }

        return received.ToString();
    }

    private static async Task AssertNothingStoredAsync(CatcherProcess catcher, TestDirectory dir)
    {
        Assert.Equal(0, await catcher.StopAsync());
        Assert.DoesNotContain(catcher.DrainEvents(), e => e.GetProperty("event").GetString() == "message");
        Assert.Empty(await StoredClientsAsync(dir, dir.Database));
    }

    /// <summary>The <c>client</c> of every stored message, as <c>smtpd list --json</c> reads them.</summary>
    private static async Task<List<string>> StoredClientsAsync(TestDirectory dir, string database)
    {
        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", database);
        Assert.True(list.ExitCode == 0, list.ToString());
        using var document = System.Text.Json.JsonDocument.Parse(list.Output);
        return [.. document.RootElement.EnumerateArray().Select(m => m.GetProperty("client").GetString()!)];
    }
}
