using System.Net;
using System.Text.Json;

namespace Smtpd.Cli.Tests;

public sealed class HttpFlagTests
{
    [Fact]
    public async Task HttpPortZeroIsReportedInTheListeningEventAndServesTheApiUnderTheBasePath()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--http", "127.0.0.1:0", "--base-path", "/mail/");
        var api = Assert.Single(catcher.HttpListeners);
        Assert.NotEqual(0, api.EndPoint.Port);
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "Over HTTP"));
        await catcher.NextMessageAsync();

        using var http = new HttpClient { BaseAddress = new Uri($"http://{api.EndPoint}") };
        var list = JsonDocument.Parse(await http.GetStringAsync("/mail/api/v1/messages", TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal("Over HTTP", list.GetProperty("messages")[0].GetProperty("Subject").GetString());
        using var outside = await http.GetAsync("/api/v1/messages", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, outside.StatusCode);
    }

    [Fact]
    public async Task NoHttpServesNothingAndReportsOnlyTheSmtpListener()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--no-http");
        Assert.Empty(catcher.HttpListeners);
        Assert.Single(catcher.Listeners);
    }

    [Theory]
    [InlineData("--base-path", "mail")]
    [InlineData("--base-path", "/a/../b")]
    [InlineData("--http-tls")]
    public async Task BadHttpFlagsAreRefusedNamingTheFlag(params string[] args)
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, [.. args, "--db", dir.Database]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(args[0], result.Stderr, StringComparison.Ordinal);
    }
}
