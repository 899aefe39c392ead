using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Smtpd.Cli.Tests;

/// <summary><c>smtpd health</c> (the real process) against a running catcher and against nothing.</summary>
public sealed class HealthCommandTests
{
    /// <summary>A loopback port with nothing listening on it (bound, then released).</summary>
    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    [Fact]
    public async Task HealthExitsZeroWhenReadyzAnswers200AndSmtpGreetsWith220()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--http", "127.0.0.1:0");
        var http = Assert.Single(catcher.HttpListeners).EndPoint;
        var result = await SmtpdCli.RunAsync(dir, ["health", "--smtp", catcher.EndPoint.ToString()], new Dictionary<string, string> { ["SMTPD_URL"] = $"http://{http}/" });
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal($"healthy: http://{http}/readyz answered 200; {catcher.EndPoint} greeted with 220\n", result.Output);
    }

    [Fact]
    public async Task HealthWithProxyProtocolSendsALocalHeaderAndPassesAgainstAProxyProtocolListener()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--http", "127.0.0.1:0", "--proxy-protocol", "--trusted-proxy", "127.0.0.1");
        var http = Assert.Single(catcher.HttpListeners).EndPoint;
        var result = await SmtpdCli.RunAsync(dir, "health", "--url", $"http://{http}/", "--smtp", catcher.EndPoint.ToString(), "--proxy-protocol", "--timeout", "10s");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal($"healthy: http://{http}/readyz answered 200; {catcher.EndPoint} greeted with 220\n", result.Output);
    }

    [Fact]
    public async Task HealthWithoutProxyProtocolFailsAgainstAProxyProtocolListener()
    {
        // The listener closes a connection that brings no header, so the plain check must see no greeting: this is
        // what makes the test above prove the header was sent.
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--http", "127.0.0.1:0", "--proxy-protocol", "--trusted-proxy", "127.0.0.1");
        var http = Assert.Single(catcher.HttpListeners).EndPoint;
        var result = await SmtpdCli.RunAsync(dir, "health", "--url", $"http://{http}/", "--smtp", catcher.EndPoint.ToString(), "--timeout", "3s");
        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"smtpd: unhealthy: SMTP {catcher.EndPoint} did not greet in time (a catcher started with --proxy-protocol greets only after a header: add --proxy-protocol)\n", result.Stderr);
    }

    [Fact]
    public async Task HealthExitsOneAgainstNothingAndNamesBothProblems()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "health", "--url", $"http://127.0.0.1:{FreePort()}/", "--smtp", $"127.0.0.1:{FreePort()}", "--timeout", "10s");
        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("smtpd: unhealthy: cannot reach http://127.0.0.1:", line, StringComparison.Ordinal);
        Assert.Contains("; SMTP 127.0.0.1:", line, StringComparison.Ordinal);
        Assert.Contains("connection refused", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthExitsOneWhenOnlySmtpIsDown()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--http", "127.0.0.1:0");
        var http = Assert.Single(catcher.HttpListeners).EndPoint;
        var result = await SmtpdCli.RunAsync(dir, "health", "--url", $"http://{http}/", "--smtp", $"127.0.0.1:{FreePort()}");
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("smtpd: unhealthy: SMTP 127.0.0.1:", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthExitsOneWhenReadyzAnswersAnErrorAndPrintsItsReason()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--no-http");
        // A real HTTP server that is not ready, as a catcher whose listeners are gone answers /readyz.
        var port = FreePort();
        using var notReady = new HttpListener();
        notReady.Prefixes.Add($"http://127.0.0.1:{port}/");
        notReady.Start();
        var answered = AnswerNotReadyAsync(notReady);
        var result = await SmtpdCli.RunAsync(dir, "health", "--url", $"http://127.0.0.1:{port}/", "--smtp", catcher.EndPoint.ToString());
        await answered;
        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"smtpd: unhealthy: http://127.0.0.1:{port}/readyz answered 503: the catcher is not listening\n", result.Stderr);
    }

    private static async Task AnswerNotReadyAsync(HttpListener listener)
    {
        var context = await listener.GetContextAsync();
        context.Response.StatusCode = 503;
        await context.Response.OutputStream.WriteAsync("the catcher is not listening\n"u8.ToArray(), TestContext.Current.CancellationToken);
        context.Response.Close();
    }

    [Fact]
    public async Task HealthWaitGivesUpAtTheTimeoutAgainstNothing()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "health", "--wait", "--timeout", "600ms", "--url", $"http://127.0.0.1:{FreePort()}/", "--smtp", $"127.0.0.1:{FreePort()}");
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("smtpd: unhealthy after 600ms: ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthWaitExitsZeroOnceACatcherStartsListening()
    {
        using var dir = new TestDirectory();
        int smtpPort = FreePort(), httpPort = FreePort();
        using var health = Process.Start(SmtpdCli.StartInfo(dir, ["health", "--wait", "--timeout", "120s", "--url", $"http://127.0.0.1:{httpPort}/", "--smtp", $"127.0.0.1:{smtpPort}"]))!;
        await using var catcher = await CatcherProcess.StartAsync(dir, "--listen", $"127.0.0.1:{smtpPort}", "--http", $"127.0.0.1:{httpPort}");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await health.WaitForExitAsync(timeout.Token);
        Assert.True(health.ExitCode == 0, await health.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("--timeout", "soon")]
    [InlineData("--timeout", "0s")]
    [InlineData("--smtp", "nowhere")]
    [InlineData("--url", "ftp://example.com/")]
    public async Task HealthExitsTwoForABadFlag(string flag, string value)
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "health", flag, value);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("smtpd: " + flag, result.Stderr, StringComparison.Ordinal);
    }
}
