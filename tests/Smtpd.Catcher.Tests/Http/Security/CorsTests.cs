using System.Net;
using Smtpd.Catcher.Http.Security;

namespace Smtpd.Catcher.Tests.Http.Security;

public sealed class CorsTests
{
    private static Action<HttpRequestMessage> Preflight(string origin, string method) => request =>
    {
        request.Headers.TryAddWithoutValidation("Origin", origin);
        request.Headers.TryAddWithoutValidation("Access-Control-Request-Method", method);
        request.Headers.TryAddWithoutValidation("Access-Control-Request-Headers", "content-type");
    };

    [Fact]
    public async Task CorsIsOffByDefaultSoNoAnswerNamesAnOrigin()
    {
        await using var host = await SecuredHost.StartAsync();
        using var get = await host.GetAsync("api/v1/info", request => request.Headers.TryAddWithoutValidation("Origin", "http://localhost:3000"));
        using var preflight = await host.SendAsync(HttpMethod.Options, "api/v1/send", content: null, Preflight("http://localhost:3000", "POST"));
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.False(get.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.False(preflight.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.False(preflight.Headers.Contains("Access-Control-Allow-Methods"));
    }

    [Fact]
    public async Task AGivenOriginGetsCorsHeadersAndItsPreflightAnswered()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddCorsOrigins("http://LOCALHOST:3000/");
        await using var host = await SecuredHost.StartAsync(options);
        using var get = await host.GetAsync("api/v1/info", request => request.Headers.TryAddWithoutValidation("Origin", "http://localhost:3000"));
        using var preflight = await host.SendAsync(HttpMethod.Options, "api/v1/send", content: null, Preflight("http://localhost:3000", "POST"));
        Assert.Equal("http://localhost:3000", Assert.Single(get.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
        Assert.Equal("http://localhost:3000", Assert.Single(preflight.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Contains("POST", string.Join(',', preflight.Headers.GetValues("Access-Control-Allow-Methods")), StringComparison.Ordinal);
        Assert.Equal("content-type", Assert.Single(preflight.Headers.GetValues("Access-Control-Allow-Headers")));
        Assert.Equal("600", Assert.Single(preflight.Headers.GetValues("Access-Control-Max-Age")));
    }

    [Fact]
    public async Task AnotherOriginGetsNoCorsHeadersWhenSomeAreGiven()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddCorsOrigins("http://localhost:3000");
        await using var host = await SecuredHost.StartAsync(options);
        using var get = await host.GetAsync("api/v1/info", request => request.Headers.TryAddWithoutValidation("Origin", "http://localhost:4000"));
        using var preflight = await host.SendAsync(HttpMethod.Options, "api/v1/send", content: null, Preflight("http://evil.example", "POST"));
        Assert.False(get.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.False(preflight.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task AStarAllowsEveryOriginWithoutCredentials()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddCorsOrigins("*");
        await using var host = await SecuredHost.StartAsync(options);
        using var get = await host.GetAsync("api/v1/info", request => request.Headers.TryAddWithoutValidation("Origin", "https://anything.example"));
        Assert.Equal("*", Assert.Single(get.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.False(get.Headers.Contains("Access-Control-Allow-Credentials"));
    }
}
