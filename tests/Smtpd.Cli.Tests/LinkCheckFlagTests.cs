using System.Text.Json;

namespace Smtpd.Cli.Tests;

/// <summary>
/// <c>--allow-internal-http-requests</c> on a real catcher process: the link check requests a loopback link only
/// with it (here the catcher's own <c>/livez</c>, a GET route, so its HEAD gets 405: the request was made), and
/// reports it as blocked without it.
/// </summary>
public sealed class LinkCheckFlagTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("flag", 405, "Method Not Allowed")]
    [InlineData("environment", 405, "Method Not Allowed")]
    [InlineData("off", 451, "Blocked private/reserved address")]
    public async Task ALoopbackLinkIsRequestedOnlyWhenAllowed(string how, int status, string text)
    {
        using var dir = new TestDirectory();
        string[] arguments = how == "flag" ? ["--allow-internal-http-requests"] : [];
        Dictionary<string, string>? environment = how == "environment" ? new() { ["SMTPD_ALLOW_INTERNAL_HTTP_REQUESTS"] = "true" } : null;
        await using var catcher = await CatcherProcess.StartAsync(dir, arguments, environment);
        var livez = $"http://{catcher.HttpListeners[0].EndPoint}/livez";
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "Link", body: $"Check {livez} please\r\n"));
        await catcher.NextMessageAsync();

        using var http = new HttpClient { BaseAddress = new Uri($"http://{catcher.HttpListeners[0].EndPoint}") };
        var check = JsonDocument.Parse(await http.GetStringAsync("/api/v1/message/latest/link-check", Cancel)).RootElement;
        var link = Assert.Single(check.GetProperty("Links").EnumerateArray());
        Assert.Equal((livez, status, text), (link.GetProperty("URL").GetString(), link.GetProperty("StatusCode").GetInt32(), link.GetProperty("Status").GetString()));
        Assert.Equal(1, check.GetProperty("Errors").GetInt32());
    }
}
