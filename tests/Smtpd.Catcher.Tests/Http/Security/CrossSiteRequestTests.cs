using System.Net;
using System.Net.WebSockets;
using System.Text;
using Smtpd.Catcher.Http.Security;

namespace Smtpd.Catcher.Tests.Http.Security;

public sealed class CrossSiteRequestTests
{
    [Fact]
    public async Task ACrossSitePostIsRefusedWith403()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.SendJsonAsync(HttpMethod.Post, "api/v1/send", "{}", SecuredHost.FromBrowser("https://evil.example", "cross-site"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("Cross-site request refused: Sec-Fetch-Site is cross-site and Origin https://evil.example is not an --api-cors origin\n", await SecuredHost.BodyAsync(response));
    }

    [Fact]
    public async Task ASameSitePostFromAnotherPortOnLocalhostIsRefused()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.SendJsonAsync(HttpMethod.Delete, "api/v1/messages", "{}", SecuredHost.FromBrowser("http://localhost:3000", "same-site"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task ASameOriginPostIsAllowed()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.SendJsonAsync(HttpMethod.Post, "api/v1/send", "{\"a\":1}", SecuredHost.FromBrowser(host.OwnOrigin, "same-origin"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("read 7", await SecuredHost.BodyAsync(response));
    }

    [Fact]
    public async Task AnOldBrowserPostIsJudgedByItsOriginAlone()
    {
        await using var host = await SecuredHost.StartAsync();
        using var own = await host.SendJsonAsync(HttpMethod.Post, "api/v1/send", "{}", request => request.Headers.TryAddWithoutValidation("Origin", host.OwnOrigin));
        using var foreign = await host.SendJsonAsync(HttpMethod.Post, "api/v1/send", "{}", request => request.Headers.TryAddWithoutValidation("Origin", "http://evil.example"));
        using var opaque = await host.SendJsonAsync(HttpMethod.Post, "api/v1/send", "{}", request => request.Headers.TryAddWithoutValidation("Origin", "null"));
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.Equal("Cross-origin request refused: Origin http://evil.example is neither this server nor an --api-cors origin\n", await SecuredHost.BodyAsync(foreign));
        Assert.Equal(HttpStatusCode.Forbidden, opaque.StatusCode);
    }

    [Fact]
    public async Task APostWithNeitherOriginNorFetchMetadataComesFromNoBrowserAndPasses()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.SendJsonAsync(HttpMethod.Post, "api/v1/send", "{}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ACrossSiteGetIsNotRefusedBecauseItChangesNothing()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.GetAsync("api/v1/info", SecuredHost.FromBrowser("https://evil.example", "cross-site"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task AnApiCorsOriginMayPostCrossSite()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddCorsOrigins("http://localhost:3000");
        await using var host = await SecuredHost.StartAsync(options);
        using var response = await host.SendJsonAsync(HttpMethod.Post, "api/v1/send", "{}", SecuredHost.FromBrowser("http://localhost:3000", "same-site"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    public async Task APostWithANonJsonBodyGets415(string contentType)
    {
        await using var host = await SecuredHost.StartAsync();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes("{\"IDs\":[]}"));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using var response = await host.SendAsync(HttpMethod.Post, "api/v1/send", content);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal($"A request body must be Content-Type: application/json, not {contentType}\n", await SecuredHost.BodyAsync(response));
    }

    [Fact]
    public async Task ABodyWithoutContentTypeGets415()
    {
        await using var host = await SecuredHost.StartAsync();
        var content = new ByteArrayContent("{}"u8.ToArray());
        using var response = await host.SendAsync(HttpMethod.Put, "api/v1/messages", content);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("A request body must be Content-Type: application/json, not no Content-Type\n", await SecuredHost.BodyAsync(response));
    }

    [Fact]
    public async Task ADeleteOrPutWithoutABodyNeedsNoContentType()
    {
        await using var host = await SecuredHost.StartAsync();
        using var delete = await host.SendAsync(HttpMethod.Delete, "api/v1/messages", content: null);
        using var put = await host.SendAsync(HttpMethod.Put, "api/v1/messages", new ByteArrayContent([]));
        Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
    }

    [Fact]
    public async Task AJsonBodyWithACharsetOnADeletePasses()
    {
        await using var host = await SecuredHost.StartAsync();
        var content = new ByteArrayContent("{\"IDs\":[\"a\"]}"u8.ToArray());
        content.Headers.TryAddWithoutValidation("Content-Type", "Application/JSON; charset=UTF-8");
        using var response = await host.SendAsync(HttpMethod.Delete, "api/v1/messages", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ARequestTheUserTypedHasSecFetchSiteNoneAndPasses()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.SendJsonAsync(HttpMethod.Post, "api/v1/send", "{}", request => request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", "none"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task AWebSocketFromAnotherSiteIsRefusedBecauseBrowsersApplyNoCorsToIt()
    {
        await using var host = await SecuredHost.StartAsync();
        var events = new UriBuilder(host.BaseAddress) { Scheme = "ws", Path = "api/events" }.Uri;
        using var hijack = new ClientWebSocket();
        hijack.Options.CollectHttpResponseDetails = true;
        hijack.Options.SetRequestHeader("Origin", "https://evil.example");
        await Assert.ThrowsAsync<WebSocketException>(() => hijack.ConnectAsync(events, TestContext.Current.CancellationToken));
        Assert.Equal(HttpStatusCode.Forbidden, hijack.HttpStatusCode);

        using var own = new ClientWebSocket();
        own.Options.SetRequestHeader("Origin", host.OwnOrigin);
        await own.ConnectAsync(events, TestContext.Current.CancellationToken);
        var buffer = new byte[64];
        var received = await own.ReceiveAsync(buffer, TestContext.Current.CancellationToken);
        Assert.Equal("{\"Type\":\"stats\"}", Encoding.UTF8.GetString(buffer, 0, received.Count));
    }
}
