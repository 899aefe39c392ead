using System.Net;
using Smtpd.Catcher.Http.Security;

namespace Smtpd.Catcher.Tests.Http.Security;

public sealed class HostFilterTests
{
    [Fact]
    public async Task AForgedHostGets403WithAOneLineReason()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.GetAsync("api/v1/info", request => request.Headers.Host = "evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal("Host 'evil.example' is not served here: use localhost or an IP address, or start smtpd with --http-host evil.example\n", await SecuredHost.BodyAsync(response));
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("LOCALHOST.")]
    [InlineData("127.0.0.1")]
    [InlineData("[::1]")]
    [InlineData("192.168.1.20")]
    public async Task LocalhostAndIpLiteralsPassWithAnyPort(string name)
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.GetAsync("api/v1/info", request => request.Headers.Host = $"{name}:{host.BaseAddress.Port}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("info", await SecuredHost.BodyAsync(response));
    }

    [Fact]
    public async Task TheLiteralAddressTheClientConnectedToPasses()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.GetAsync("api/v1/info");
        Assert.Equal("127.0.0.1", host.BaseAddress.Host);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("0x7f.1")]
    [InlineData("127.1")]
    [InlineData("2130706433")]
    [InlineData("localhost.evil.example")]
    [InlineData("127.0.0.1.nip.io")]
    public async Task NamesThatOnlyLookLikeLoopbackAreRefused(string name)
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.GetAsync("api/v1/info", request => request.Headers.Host = name);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task ANameGivenWithHttpHostPassesWithoutCaseOrTrailingDot()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AllowedHosts.Add("Mail.Test");
        await using var host = await SecuredHost.StartAsync(options);
        using var exact = await host.GetAsync("api/v1/info", request => request.Headers.Host = "mail.test:8025");
        using var dotted = await host.GetAsync("api/v1/info", request => request.Headers.Host = "MAIL.TEST.");
        using var other = await host.GetAsync("api/v1/info", request => request.Headers.Host = "www.mail.test");
        Assert.Equal(HttpStatusCode.OK, exact.StatusCode);
        Assert.Equal(HttpStatusCode.OK, dotted.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
    }

    [Fact]
    public async Task AStarInHttpHostAcceptsEveryName()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AllowedHosts.Add("*");
        await using var host = await SecuredHost.StartAsync(options);
        using var response = await host.GetAsync("api/v1/info", request => request.Headers.Host = "smtpd");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task TheHostCheckComesBeforeLoginSoARebindingPageGetsNoPasswordPrompt()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddUser("alice:secret");
        await using var host = await SecuredHost.StartAsync(options);
        using var response = await host.GetAsync("api/v1/info", request => request.Headers.Host = "evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Empty(response.Headers.WwwAuthenticate);
    }
}
