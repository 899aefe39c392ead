using System.Net;
using Smtpd.Catcher.Http.Security;

namespace Smtpd.Catcher.Tests.Http.Security;

public sealed class SecurityHeadersTests
{
    private static void AssertCommonHeaders(HttpResponseMessage response, string frameOptions)
    {
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
        Assert.Equal(frameOptions, Assert.Single(response.Headers.GetValues("X-Frame-Options")));
    }

    [Theory]
    [InlineData("api/v1/info", HttpStatusCode.OK)]
    [InlineData("api/v1/no-such-route", HttpStatusCode.NotFound)]
    [InlineData("view/1.html/../../../etc", HttpStatusCode.NotFound)]
    public async Task EveryResponseIsNosniffNoReferrerAndUnframable(string path, HttpStatusCode status)
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.GetAsync(path);
        Assert.Equal(status, response.StatusCode);
        AssertCommonHeaders(response, "DENY");
    }

    [Fact]
    public async Task RejectionsCarryTheHeadersToo()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.GetAsync("api/v1/info", request => request.Headers.Host = "evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        AssertCommonHeaders(response, "DENY");
    }

    [Fact]
    public async Task AViewIsFramableBySameOriginAndSandboxedByTheHelper()
    {
        await using var host = await SecuredHost.StartAsync();
        using var strict = await host.GetAsync("view/abc.html");
        using var remote = await host.GetAsync("view/abc.html?remote=true");
        AssertCommonHeaders(strict, "SAMEORIGIN");
        Assert.Equal(CatcherContentSecurityPolicy.View, Assert.Single(strict.Headers.GetValues("Content-Security-Policy")));
        Assert.StartsWith("sandbox", CatcherContentSecurityPolicy.View, StringComparison.Ordinal);
        Assert.Contains("default-src 'none'", CatcherContentSecurityPolicy.View, StringComparison.Ordinal);
        Assert.DoesNotContain("https:", CatcherContentSecurityPolicy.View, StringComparison.Ordinal);
        Assert.Equal(CatcherContentSecurityPolicy.ViewWithRemoteContent, Assert.Single(remote.Headers.GetValues("Content-Security-Policy")));
        Assert.Contains("img-src 'self' data: cid: https:", CatcherContentSecurityPolicy.ViewWithRemoteContent, StringComparison.Ordinal);
        Assert.DoesNotContain("script", CatcherContentSecurityPolicy.ViewWithRemoteContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AViewThatSetsNoPolicyGetsTheSandboxingOneAnyway()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.GetAsync("view/abc.txt");
        AssertCommonHeaders(response, "SAMEORIGIN");
        Assert.Equal(CatcherContentSecurityPolicy.View, Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
    }

    [Fact]
    public async Task FramablePathsAreMatchedBelowThePathBase()
    {
        await using var host = await SecuredHost.StartAsync(pathBase: "/mail");
        using var view = await host.GetAsync("view/abc.txt");
        using var api = await host.GetAsync("api/v1/info");
        Assert.Equal("/mail/", host.BaseAddress.AbsolutePath);
        Assert.Equal(HttpStatusCode.OK, view.StatusCode);
        AssertCommonHeaders(view, "SAMEORIGIN");
        AssertCommonHeaders(api, "DENY");
    }

    [Fact]
    public async Task APartIsServedWithItsSafeHeaders()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.GetAsync("api/v1/message/1/part/2?type=text/html&name=%22%3E%3Cscript%3E.html");
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        var disposition = response.Content.Headers.ContentDisposition!;
        Assert.Equal("attachment", disposition.DispositionType);
        Assert.Equal("\"><script>.html", disposition.FileNameStar);
        Assert.Equal(CatcherContentSecurityPolicy.Part, Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
        AssertCommonHeaders(response, "DENY");
    }
}
