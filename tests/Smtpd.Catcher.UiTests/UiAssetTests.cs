using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Smtpd.Catcher.UiTests.Support;

namespace Smtpd.Catcher.UiTests;

/// <summary>How the inbox's files are served: no browser needed.</summary>
public sealed partial class UiAssetTests
{
    private static readonly string[] AssetNames = ["app.js", "api.js", "dom.js", "list.js", "live.js", "message.js", "theme.js", "style.css", "favicon.svg"];

    [Fact]
    public async Task ThePageIsServedAtTheRootWithTheStrictContentSecurityPolicy()
    {
        await using var host = await UiHost.StartAsync();
        using var client = new HttpClient();
        using var response = await client.GetAsync(host.Root, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(SmtpdCatcherUiEndpointRouteBuilderExtensions.ContentSecurityPolicy, Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            SmtpdCatcherUiEndpointRouteBuilderExtensions.ContentSecurityPolicy);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
        Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
    }

    [Fact]
    public async Task ThePageHasNoInlineScriptOrStyleAndOnlyRelativeUrls()
    {
        await using var host = await UiHost.StartAsync();
        using var client = new HttpClient();
        var html = await client.GetStringAsync(host.Root, TestContext.Current.CancellationToken);

        // Every script has a src (the CSP would block an inline one anyway; this keeps the page working under it).
        foreach (Match script in ScriptTag().Matches(html))
        {
            Assert.Contains(" src=\"ui/", script.Value, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("<style", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch(StyleAttribute(), html);
        Assert.DoesNotMatch(InlineHandler(), html);
        // Relative URLs only, so the page works under --base-path without knowing it.
        Assert.DoesNotMatch(RootRelativeUrl(), html);
    }

    [Fact]
    public async Task EveryModuleTheScriptsImportIsPreloadedByThePage()
    {
        await using var host = await UiHost.StartAsync();
        using var client = new HttpClient();
        var html = await client.GetStringAsync(host.Root, TestContext.Current.CancellationToken);
        var imported = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var name in AssetNames.Where(n => n.EndsWith(".js", StringComparison.Ordinal)))
        {
            var script = await client.GetStringAsync(new Uri(host.Root, "ui/" + name), TestContext.Current.CancellationToken);
            foreach (Match import in ImportFrom().Matches(script))
            {
                imported.Add(import.Groups[1].Value);
            }
        }

        var preloaded = new SortedSet<string>(ModulePreload().Matches(html).Select(m => m.Groups[1].Value), StringComparer.Ordinal);

        // A module found only by parsing its importer costs the first paint one more round trip.
        Assert.NotEmpty(imported);
        Assert.Equal(imported, preloaded);
    }

    [Fact]
    public async Task EveryAssetIsServedWithItsTypeAndRevalidatedByEntityTag()
    {
        await using var host = await UiHost.StartAsync();
        using var client = new HttpClient();
        foreach (var name in AssetNames)
        {
            using var response = await client.GetAsync(new Uri(host.Root, "ui/" + name), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var expected = Path.GetExtension(name) switch
            {
                ".js" => "text/javascript",
                ".css" => "text/css",
                _ => "image/svg+xml",
            };
            Assert.Equal(expected, response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
            Assert.True(response.Headers.CacheControl?.NoCache);
            var tag = response.Headers.ETag;
            Assert.NotNull(tag);

            using var again = new HttpRequestMessage(HttpMethod.Get, new Uri(host.Root, "ui/" + name));
            again.Headers.IfNoneMatch.Add(tag);
            using var revalidated = await client.SendAsync(again, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);
        }
    }

    [Theory]
    [InlineData("ui/nothing.js")]
    [InlineData("ui/../Smtpd.Catcher.dll")]
    [InlineData("ui/%2e%2e/%2e%2e/etc/passwd")]
    [InlineData("ui/")]
    public async Task AnUnknownAssetIsNotFound(string path)
    {
        await using var host = await UiHost.StartAsync();
        using var client = new HttpClient();
        using var response = await client.GetAsync(new Uri(host.Root + path), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task UnderAPathBaseThePageIsServedAndTheBareBaseRedirectsToItsSlash()
    {
        await using var host = await UiHost.StartAsync("/mail");
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });

        using var page = await client.GetAsync(host.Root, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        using var script = await client.GetAsync(new Uri(host.Root, "ui/app.js"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);

        var bare = new Uri(host.Root.GetLeftPart(UriPartial.Authority) + "/mail?q=from%3Aalice");
        using var redirect = await client.GetAsync(bare, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Equal("/mail/?q=from%3Aalice", redirect.Headers.Location?.OriginalString);
    }

    [Fact]
    public void TheUisOwnScriptsAndStylesTotalAtMost150KB()
    {
        var total = 0L;
        foreach (var name in AssetNames.Where(n => n.EndsWith(".js", StringComparison.Ordinal) || n.EndsWith(".css", StringComparison.Ordinal)))
        {
            Assert.True(Catcher.Ui.UiAssets.Embedded.TryGet(name, out var asset), name);
            total += asset.Content.Length;
        }

        Assert.InRange(total, 1, 150 * 1024);
    }

    [GeneratedRegex(@"^import [^;]* from '\./([a-z]+\.js)';", RegexOptions.Multiline)]
    private static partial Regex ImportFrom();

    [GeneratedRegex(@"<link rel=""modulepreload"" href=""ui/([a-z]+\.js)"">")]
    private static partial Regex ModulePreload();

    [GeneratedRegex("<script[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex ScriptTag();

    [GeneratedRegex(@"\sstyle\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex StyleAttribute();

    [GeneratedRegex(@"\son[a-z]+\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex InlineHandler();

    [GeneratedRegex(@"\s(?:src|href|action)\s*=\s*""/", RegexOptions.IgnoreCase)]
    private static partial Regex RootRelativeUrl();
}
