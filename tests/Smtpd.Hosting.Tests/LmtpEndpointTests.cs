using System.Net;
using Microsoft.Extensions.Options;

namespace Smtpd.Hosting.Tests;

/// <summary>LMTP endpoints (RFC 2033) from the <c>Smtpd</c> section: <c>"Protocol": "Lmtp"</c> flows into the listener.</summary>
public sealed class LmtpEndpointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnLmtpEndpointFromConfigurationAnswersLhloBesideAnSmtpOne()
    {
        await using var host = await TestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Smtpd:Endpoints:0:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:0:Port"] = "0",
            ["Smtpd:Endpoints:0:Protocol"] = "Lmtp",
            ["Smtpd:Endpoints:1:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:1:Port"] = "0",
        });

        var options = host.Host.Services.GetRequiredService<IOptions<SmtpdOptions>>().Value;
        Assert.Equal(["127.0.0.1:0 (LMTP)", "127.0.0.1:0"], options.Endpoints.Select(e => e.ToString()));
        Assert.Equal([SmtpListenerProtocol.Lmtp, SmtpListenerProtocol.Smtp], host.Server.Listeners.Select(l => l.Protocol));

        Assert.StartsWith("250-", await GreetAsync(host.Server.Endpoints[0].Port, "LHLO client.test"), StringComparison.Ordinal);
        Assert.StartsWith("500 ", await GreetAsync(host.Server.Endpoints[0].Port, "EHLO client.test"), StringComparison.Ordinal);
        Assert.StartsWith("500 ", await GreetAsync(host.Server.Endpoints[1].Port, "LHLO client.test"), StringComparison.Ordinal);
        Assert.StartsWith("250-", await GreetAsync(host.Server.Endpoints[1].Port, "EHLO client.test"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnLmtpEndpointOnPort25OrWithAnUnknownProtocolIsAValidationError()
    {
        await using var host = TestHost.Build(new Dictionary<string, string?>
        {
            // No port: the default, 25, which RFC 2033 5 forbids for LMTP.
            ["Smtpd:Endpoints:0:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:0:Protocol"] = "lmtp",
            ["Smtpd:Endpoints:1:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:1:Port"] = "2424",
            ["Smtpd:Endpoints:1:Protocol"] = "Esmtp",
        });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync(Ct));
        var failures = string.Join("\n", error.Failures);

        Assert.Contains("Endpoint 127.0.0.1:25 (LMTP): LMTP must not use port 25 (RFC 2033); set Port, for example 24.", failures, StringComparison.Ordinal);
        Assert.Contains("Smtpd:Endpoints:1", failures, StringComparison.Ordinal);
        Assert.Equal(2, error.Failures.Count());
    }

    [Fact]
    public async Task AnLmtpEndpointCanBeAddedInCode()
    {
        await using var host = TestHost.Build(
            configure: o => o.Endpoints.Add(new SmtpdEndpointOptions { Address = "127.0.0.1", Port = 0, Protocol = SmtpListenerProtocol.Lmtp }),
            defaultEndpoint: false);
        await host.Host.StartAsync(Ct);

        Assert.Equal(SmtpListenerProtocol.Lmtp, Assert.Single(host.Server.Listeners).Protocol);
        Assert.StartsWith("250-", await GreetAsync(host.Server.Endpoints[0].Port, "LHLO client.test"), StringComparison.Ordinal);
    }

    /// <summary>Connects, reads the greeting, sends one greeting command and returns its whole reply.</summary>
    private static async Task<string> GreetAsync(int port, string command)
    {
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(new IPEndPoint(IPAddress.Loopback, port));
        await using (client)
        {
            Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
            return await client.CommandAsync(command);
        }
    }
}
