using System.Diagnostics.Metrics;
using System.Net;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using Microsoft.AspNetCore.Builder;
using Smtpd.Catcher.Metrics;
using Smtpd.Catcher.Tests.Http;
using Smtpd.TestSupport;

namespace Smtpd.Catcher.Tests.Metrics;

/// <summary><c>GET /metrics</c> end to end: MailKit sends, HttpClient scrapes, a strict text-format parser reads.</summary>
public sealed class MetricsTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MetricsCountAcceptedMessagesBytesAndARejectedRecipientPerListenerExactly()
    {
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Metrics = true;
            o.RejectRecipients.Add(new Regex("^nobody@", RegexOptions.IgnoreCase));
        });
        // A second catcher in the same process, never sent to: its numbers must not leak into the first one's.
        await using var other = await CatcherHost.StartAsync(o => o.Metrics = true);
        await host.SendSimpleAsync("one");
        await host.SendSimpleAsync("two");
        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => host.SendSimpleAsync("three", to: "nobody@example.com"));
        Assert.Equal(SmtpStatusCode.MailboxUnavailable, refused.StatusCode);

        using var response = await host.Client.GetAsync("/metrics", Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var metrics = PrometheusText.Parse(await response.Content.ReadAsStringAsync(Cancel));
        var listener = ("listener", host.Catcher.Listeners[0].EndPoint.ToString());

        Assert.Equal(3, metrics.Value("smtpd_connections_total", listener));
        Assert.Equal(2, metrics.Value("smtpd_messages_accepted_total", listener));
        Assert.Equal(host.Catcher.AcceptedSize, metrics.Value("smtpd_messages_accepted_size_bytes_total", listener));
        Assert.True(host.Catcher.AcceptedSize > 0);
        Assert.Single(metrics["smtpd_replies_rejected_total"].Samples);
        Assert.Equal(1, metrics.Value("smtpd_replies_rejected_total", listener, ("command", "rcpt"), ("class", "5xx")));
        Assert.Equal(2, metrics.Value("smtpd_catcher_messages_stored_total"));
        Assert.Equal(2, metrics.Value("smtpd_catcher_store_messages"));
        Assert.Equal(2, metrics.Value("smtpd_catcher_store_unread"));
        Assert.True(metrics.Value("smtpd_catcher_store_size_bytes") > 0);
        Assert.Equal(0, metrics.Value("smtpd_catcher_queue_length", ("queue", "store")));
        Assert.Single(metrics["smtpd_sessions"].Samples);
        Assert.Equal("counter", metrics["smtpd_connections_total"].Type);
        Assert.Equal("gauge", metrics["smtpd_catcher_store_messages"].Type);
        Assert.All(metrics.Values, f => Assert.False(string.IsNullOrEmpty(f.Help)));

        var untouched = PrometheusText.Parse(await other.Client.GetStringAsync("/metrics", Cancel));
        var otherListener = ("listener", other.Catcher.Listeners[0].EndPoint.ToString());
        Assert.Equal(0, untouched.Value("smtpd_connections_total", otherListener));
        Assert.Equal(0, untouched.Value("smtpd_messages_accepted_total", otherListener));
        Assert.Equal(0, untouched.Value("smtpd_catcher_messages_stored_total"));
        Assert.Empty(untouched["smtpd_replies_rejected_total"].Samples);
    }

    [Fact]
    public async Task MetricsAreOffByDefaultSoTheRouteIsNotFound()
    {
        await using var host = await CatcherHost.StartAsync();
        using var response = await host.Client.GetAsync("/metrics", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task MetricsFollowTheRouteGroupPrefix()
    {
        await using var host = await CatcherHost.StartAsync(o => o.Metrics = true, app => app.MapGroup("/mail").MapSmtpdCatcher());
        await host.SendSimpleAsync("grouped");
        var metrics = PrometheusText.Parse(await host.Client.GetStringAsync("/mail/metrics", Cancel));
        Assert.Equal(1, metrics.Value("smtpd_messages_accepted_total", ("listener", host.Catcher.Listeners[0].EndPoint.ToString())));
        using var outside = await host.Client.GetAsync("/metrics", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, outside.StatusCode);
    }

    [Fact]
    public void LabelValuesAndHelpAreEscapedAndReadBackExactly()
    {
        using var meter = new Meter("Test.Escaping");
        using var collector = new PrometheusCollector(null, meter);
        var counter = meter.CreateCounter<long>("test.escaped", "By", "Help with a \\ backslash\nand a second line.");
        counter.Add(5, new KeyValuePair<string, object?>("path", "C:\\mail \"quoted\"\nnext"));

        var metrics = PrometheusText.Parse(collector.Scrape());

        var family = metrics["test_escaped_bytes_total"];
        Assert.Equal("Help with a \\ backslash\nand a second line.", family.Help);
        Assert.Equal(5, metrics.Value("test_escaped_bytes_total", ("path", "C:\\mail \"quoted\"\nnext")));
    }

    [Fact]
    public void ACollectorSeesOnlyItsOwnMetersNotOthersOfTheSameName()
    {
        using var mine = new Meter("Test.Scope");
        using var theirs = new Meter("Test.Scope");
        using var collector = new PrometheusCollector(null, mine);
        mine.CreateCounter<long>("test.count").Add(2);
        theirs.CreateCounter<long>("test.count").Add(40);

        Assert.Equal(2, PrometheusText.Parse(collector.Scrape()).Value("test_count_total"));
    }

    [Fact]
    public void AnObservableSeriesNotReportedAtAScrapeIsLeftOut()
    {
        using var meter = new Meter("Test.Observable");
        using var collector = new PrometheusCollector(null, meter);
        var report = true;
        meter.CreateObservableGauge("test.depth", () => report ? [new Measurement<int>(7)] : (IEnumerable<Measurement<int>>)[]);

        Assert.Equal(7, PrometheusText.Parse(collector.Scrape()).Value("test_depth"));
        report = false;
        Assert.Empty(PrometheusText.Parse(collector.Scrape())["test_depth"].Samples);
    }

    [Theory]
    [InlineData("a 1", "line feed")]
    [InlineData("1a 1\n", "metric name")]
    [InlineData("a{b=\"x} 1\n", "not closed")]
    [InlineData("a{b=\"\\t\"} 1\n", "escape")]
    [InlineData("a{__b=\"x\"} 1\n", "reserved")]
    [InlineData("a{b=\"x\",b=\"y\"} 1\n", "twice")]
    [InlineData("a one\n", "not a number")]
    [InlineData("a 1\na 2\n", "twice")]
    [InlineData("a 1\nb 1\na{x=\"1\"} 1\n", "not together")]
    [InlineData("a 1\n# TYPE a counter\n", "after its samples")]
    [InlineData("# TYPE a counter\n# TYPE a gauge\n", "second TYPE")]
    [InlineData("# TYPE a meter\n", "unknown type")]
    [InlineData("# TYPE a counter\na -1\n", "counter")]
    public void TheTestParserRefusesMalformedExpositions(string text, string reason)
    {
        var error = Assert.Throws<FormatException>(() => PrometheusText.Parse(text));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheTestParserReadsAWellFormedExposition()
    {
        var metrics = PrometheusText.Parse("# HELP a_total The a.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"\"} 3 1700000000000\n# a comment\n\nb -Inf\n");
        Assert.Equal(3, metrics.Value("a_total", ("x", "1"), ("y", "q\"")));
        Assert.Equal(1700000000000, metrics["a_total"].Samples[0].Timestamp);
        Assert.Equal(double.NegativeInfinity, metrics.Value("b"));
        Assert.Equal("untyped", metrics["b"].Type);
    }
}
