using System.Net;
using System.Text;
using Smtpd.Catcher.Http.Security;

namespace Smtpd.Catcher.Tests.Http.Security;

public sealed class RequestLimitsTests
{
    private static CatcherHttpSecurityOptions SmallLimits() => new() { MaxRequestBodySize = 1024, MaxQueryStringLength = 64 };

    [Fact]
    public async Task ABodyAtTheCapIsRead()
    {
        await using var host = await SecuredHost.StartAsync(SmallLimits());
        using var response = await host.SendJsonAsync(HttpMethod.Post, "api/v1/send", "\"" + new string('a', 1022) + "\"");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("read 1024", await SecuredHost.BodyAsync(response));
    }

    [Fact]
    public async Task ADeclaredBodyOverTheCapGets413BeforeTheEndpoint()
    {
        await using var host = await SecuredHost.StartAsync(SmallLimits());
        using var response = await host.SendJsonAsync(HttpMethod.Post, "api/v1/send", "\"" + new string('a', 1023) + "\"");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("The request body is larger than the limit of 1024 bytes\n", await SecuredHost.BodyAsync(response));
    }

    [Fact]
    public async Task AChunkedBodyThatGrowsOverTheCapGets413()
    {
        await using var host = await SecuredHost.StartAsync(SmallLimits());
        var content = new StreamContent(new NonSeekableStream(Encoding.UTF8.GetBytes("\"" + new string('a', 4096) + "\"")));
        content.Headers.ContentType = new("application/json");
        using var response = await host.SendAsync(HttpMethod.Post, "api/v1/send", content, request => request.Headers.TransferEncodingChunked = true);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("The request body is larger than the limit of 1024 bytes\n", await SecuredHost.BodyAsync(response));
    }

    [Fact]
    public async Task AQueryStringOverTheCapGets414WithTheLengths()
    {
        await using var host = await SecuredHost.StartAsync(SmallLimits());
        using var atCap = await host.GetAsync("api/v1/info?query=" + new string('x', 58));
        using var over = await host.GetAsync("api/v1/info?query=" + new string('x', 59));
        Assert.Equal(HttpStatusCode.OK, atCap.StatusCode);
        Assert.Equal(HttpStatusCode.RequestUriTooLong, over.StatusCode);
        Assert.Equal("The query string is 65 characters; the limit is 64\n", await SecuredHost.BodyAsync(over));
    }

    [Fact]
    public async Task TheDefaultQueryCapIsFourKilobytes()
    {
        await using var host = await SecuredHost.StartAsync();
        using var atCap = await host.GetAsync("api/v1/info?q=" + new string('x', 4094));
        using var over = await host.GetAsync("api/v1/info?q=" + new string('x', 4095));
        Assert.Equal(HttpStatusCode.OK, atCap.StatusCode);
        Assert.Equal(HttpStatusCode.RequestUriTooLong, over.StatusCode);
    }

    /// <summary>A stream whose length HttpClient cannot know, so it must send the body chunked.</summary>
    private sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
