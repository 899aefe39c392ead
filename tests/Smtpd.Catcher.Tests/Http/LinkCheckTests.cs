using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MimeKit;
using Smtpd.Catcher.Http;

namespace Smtpd.Catcher.Tests.Http;

/// <summary>
/// <c>GET /api/v1/message/{ID}/link-check</c>, Mailpit's link check, against a real web server on loopback: the
/// statuses, redirects with and without <c>follow</c>, failures, and the refusal of reserved addresses by default.
/// </summary>
public sealed class LinkCheckTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EachLinkGetsTheStatusOfItsHeadRequestAndFailuresAreCounted()
    {
        await using var site = await TargetSite.StartAsync();
        await using var host = await CatcherHost.StartAsync(o => o.Http.AllowInternalLinkChecks = true);
        var id = await SendAsync(host, site.Url(""));

        var check = await host.GetJsonAsync($"/api/v1/message/{id}/link-check");
        Json.HasMembers(check, "Errors", "Links");
        var links = Statuses(check);
        Assert.Equal(
            [
                (site.Url("/ok"), 200, "OK"),
                (site.Url("/image.png"), 404, "Not Found"),
                (site.Url("/style.css"), 200, "OK"),
                (site.Url("/moved"), 302, "Found"),
                (site.Url("/loop"), 302, "Found"),
            ],
            links.Take(5));
        var refused = links[5];
        Assert.Equal(("http://127.0.0.1:1/closed", 0), (refused.Url, refused.Code));
        Assert.NotEmpty(refused.Status);
        Assert.Equal(2, check.GetProperty("Errors").GetInt32());
        foreach (var link in check.GetProperty("Links").EnumerateArray())
        {
            Json.HasMembers(link, "URL", "StatusCode", "Status");
        }

        // Only HEAD requests, one per link (the anchor's text link is the same URL, asked once).
        Assert.All(site.Requests, r => Assert.Equal("HEAD", r.Method));
        Assert.Equal(5, site.Requests.Count);
    }

    [Fact]
    public async Task FollowReportsWhereRedirectsLeadAndALoopAsAnError()
    {
        await using var site = await TargetSite.StartAsync();
        await using var host = await CatcherHost.StartAsync(o => o.Http.AllowInternalLinkChecks = true);
        var id = await SendAsync(host, site.Url(""));

        foreach (var follow in new[] { "true", "1" })
        {
            var links = Statuses(await host.GetJsonAsync($"/api/v1/message/{id}/link-check?follow={follow}"));
            Assert.Contains((site.Url("/moved"), 200, "OK"), links);
            Assert.Contains((site.Url("/loop"), 0, "too many redirects"), links);
        }
    }

    [Fact]
    public async Task LinksToReservedAddressesAreRefusedUnlessAllowed()
    {
        await using var site = await TargetSite.StartAsync();
        await using var host = await CatcherHost.StartAsync();
        var id = await SendAsync(host, site.Url(""));

        var check = await host.GetJsonAsync($"/api/v1/message/latest/link-check");
        var links = Statuses(check);
        Assert.Equal(6, links.Count);
        Assert.All(links, l => Assert.Equal((LinkChecker.BlockedStatusCode, "Blocked private/reserved address"), (l.Code, l.Status)));
        Assert.Equal(6, check.GetProperty("Errors").GetInt32());
        Assert.Empty(site.Requests);
        Assert.NotNull(id);
    }

    [Fact]
    public async Task AnUnknownMessageIs404AndAMessageWithoutLinksHasNone()
    {
        await using var host = await CatcherHost.StartAsync();
        using (var unknown = await host.Client.GetAsync("/api/v1/message/999/link-check", Cancel))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }

        var id = await host.SendSimpleAsync("No links", text: "nothing to click");
        var check = await host.GetJsonAsync($"/api/v1/message/{id}/link-check");
        Assert.Equal(0, check.GetProperty("Errors").GetInt32());
        Assert.Equal(0, check.GetProperty("Links").GetArrayLength());
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("10.1.2.3", true)]
    [InlineData("172.16.0.1", true)]
    [InlineData("172.32.0.1", false)]
    [InlineData("192.168.1.1", true)]
    [InlineData("169.254.169.254", true)]
    [InlineData("100.64.0.1", true)]
    [InlineData("0.0.0.0", true)]
    [InlineData("224.0.0.1", true)]
    [InlineData("8.8.8.8", false)]
    [InlineData("93.184.216.34", false)]
    [InlineData("::1", true)]
    [InlineData("fe80::1", true)]
    [InlineData("fd00::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("::ffff:8.8.8.8", false)]
    [InlineData("2001:db8::1", true)]
    [InlineData("2606:4700:4700::1111", false)]
    public void ReservedAddressesAreRecognised(string address, bool reserved) =>
        Assert.Equal(reserved, LinkChecker.IsReserved(IPAddress.Parse(address)));

    [Fact]
    public void TheLinksCheckedAreAnchorsImagesStylesheetsAndTextLinksEachOnceUpToTheCap()
    {
        const string html = """
            <a href="https://a.example/1">one</a> <img src="https://a.example/2.png"> <link rel="stylesheet" href="https://a.example/3.css">
            <link rel="icon" href="https://a.example/icon.ico"> <a href="mailto:x@example.com">mail</a> <a href="https://a.example/1">again</a>
            """;
        var links = ContentExtraction.CheckableLinks("see https://a.example/4. and https://a.example/2.png", html, LinkChecker.MaxLinks);
        Assert.Equal(["https://a.example/1", "https://a.example/2.png", "https://a.example/3.css", "https://a.example/4"], links);

        var many = string.Join(' ', Enumerable.Range(0, 150).Select(i => $"https://b.example/{i}"));
        Assert.Equal(LinkChecker.MaxLinks, ContentExtraction.CheckableLinks(many, string.Empty, LinkChecker.MaxLinks).Count);
    }

    [Fact]
    public async Task AResultIsReusedForAMinuteAndAnOverlongLinkIsNotRemembered()
    {
        await using var site = await TargetSite.StartAsync();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch);
        using var checker = new LinkChecker(new CatcherHttpOptions { AllowInternalLinkChecks = true }, time);
        var longLink = site.Url("/ok?") + new string('q', LinkChecker.MaxRememberedLength);

        await checker.CheckAsync([site.Url("/ok"), longLink], follow: false, Cancel);
        await checker.CheckAsync([site.Url("/ok"), longLink], follow: false, Cancel);
        Assert.Equal(3, site.Requests.Count);
        Assert.Equal(1, checker.Remembered);

        time.Advance(LinkChecker.ResultLifetime);
        var again = await checker.CheckAsync([site.Url("/ok")], follow: false, Cancel);
        Assert.Equal(200, Assert.Single(again.Links).StatusCode);
        Assert.Equal(4, site.Requests.Count);
    }

    [Fact]
    public void TheLinkCheckTimeoutHasItsDefaultAcceptsAValidValueAndRefusesAnInvalidOne()
    {
        var options = new CatcherHttpOptions();
        Assert.Equal(TimeSpan.FromSeconds(10), options.LinkCheckTimeout);
        Assert.False(options.AllowInternalLinkChecks);
        options.LinkCheckTimeout = TimeSpan.FromSeconds(3);
        Assert.Equal(TimeSpan.FromSeconds(3), options.LinkCheckTimeout);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.LinkCheckTimeout = TimeSpan.FromMilliseconds(500));
        Assert.Throws<ArgumentOutOfRangeException>(() => options.LinkCheckTimeout = TimeSpan.FromMinutes(2));
    }

    private static async Task<string> SendAsync(CatcherHost host, string site)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = "Links";
        message.Body = new BodyBuilder
        {
            HtmlBody = $"""<p><a href="{site}/ok">ok</a><img src="{site}/image.png"><link rel="stylesheet" href="{site}/style.css"><a href="{site}/moved">moved</a></p>""",
            TextBody = $"Also {site}/loop and {site}/ok and http://127.0.0.1:1/closed",
        }.ToMessageBody();
        return await host.SendAsync(message);
    }

    private static List<(string Url, int Code, string Status)> Statuses(JsonElement check) =>
        [.. check.GetProperty("Links").EnumerateArray().Select(l => (l.GetProperty("URL").GetString()!, l.GetProperty("StatusCode").GetInt32(), l.GetProperty("Status").GetString()!))];

    /// <summary>A web server on loopback port 0 whose paths answer 200, 404, a redirect, and a redirect loop.</summary>
    private sealed class TargetSite : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly string _base;

        private TargetSite(WebApplication app, string baseUrl)
        {
            _app = app;
            _base = baseUrl;
        }

        public System.Collections.Concurrent.ConcurrentQueue<(string Method, string Path)> Requests { get; } = new();

        public static async Task<TargetSite> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            TargetSite? site = null;
            app.Use(async (context, next) =>
            {
                site!.Requests.Enqueue((context.Request.Method, context.Request.Path.Value ?? string.Empty));
                await next(context);
            });
            app.MapMethods("/ok", ["GET", "HEAD"], () => Results.Ok());
            app.MapMethods("/style.css", ["GET", "HEAD"], () => Results.Text("p {}", "text/css"));
            app.MapMethods("/moved", ["GET", "HEAD"], () => Results.Redirect("/ok"));
            app.MapMethods("/loop", ["GET", "HEAD"], () => Results.Redirect("/loop"));
            await app.StartAsync(Cancel);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            site = new TargetSite(app, address.TrimEnd('/'));
            return site;
        }

        public string Url(string path) => _base + path;

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync(Cancel);
            await _app.DisposeAsync();
        }
    }
}
