using System.Net;
using System.Net.Http.Headers;
using System.Text;
using MailKit.Net.Smtp;

namespace Smtpd.Cli.Tests;

/// <summary><c>--metrics</c> on a real catcher process: Prometheus text at <c>/metrics</c>, under the base path and the login.</summary>
public sealed class MetricsFlagTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MetricsFlagServesExactCountsUnderTheBasePathBehindTheLogin()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--metrics", "--base-path", "/mail/", "--ui-auth", "alice:pw", "--reject-recipient", "^nobody@");
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "Counted"));
        await catcher.NextMessageAsync();
        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(catcher.EndPoint, Mail.Simple(to: "nobody@example.com")));
        Assert.Equal(SmtpStatusCode.MailboxUnavailable, refused.StatusCode);

        using var http = new HttpClient { BaseAddress = new Uri($"http://{catcher.HttpListeners[0].EndPoint}") };
        using (var anonymous = await http.GetAsync("/mail/metrics", Cancel))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:pw")));
        using var response = await http.GetAsync("/mail/metrics", Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var metrics = PrometheusText.Parse(await response.Content.ReadAsStringAsync(Cancel));
        var listener = ("listener", catcher.EndPoint.ToString());
        Assert.Equal(2, metrics.Value("smtpd_connections_total", listener));
        Assert.Equal(1, metrics.Value("smtpd_messages_accepted_total", listener));
        Assert.Equal(1, metrics.Value("smtpd_replies_rejected_total", listener, ("command", "rcpt"), ("class", "5xx")));
        Assert.Equal(1, metrics.Value("smtpd_catcher_store_messages"));
    }

    [Fact]
    public async Task MetricsFromTheEnvironmentAndOffByDefault()
    {
        using (var dir = new TestDirectory())
        {
            await using var on = await CatcherProcess.StartAsync(dir, [], new Dictionary<string, string> { ["SMTPD_METRICS"] = "true" });
            using var http = new HttpClient { BaseAddress = new Uri($"http://{on.HttpListeners[0].EndPoint}") };
            var metrics = PrometheusText.Parse(await http.GetStringAsync("/metrics", Cancel));
            Assert.Equal(0, metrics.Value("smtpd_messages_accepted_total", ("listener", on.EndPoint.ToString())));
        }

        using var plain = new TestDirectory();
        await using var off = await CatcherProcess.StartAsync(plain);
        using var client = new HttpClient { BaseAddress = new Uri($"http://{off.HttpListeners[0].EndPoint}") };
        using var response = await client.GetAsync("/metrics", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task MetricsWithNoHttpGetsOneLineNamingTheFlagAndExitCode2()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, ["--metrics", "--no-http", "--db", dir.Database], null);
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("smtpd: ", line, StringComparison.Ordinal);
        Assert.Contains("--metrics", line, StringComparison.Ordinal);
    }
}
