using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Smtpd.Samples.PostgresDelivery.Tests;

/// <summary>What the sample refuses before it listens; none of these need a PostgreSQL server.</summary>
public sealed class StartupTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void AMissingConnectionStringIsReportedByItsConfigurationKey()
    {
        var error = Assert.Throws<InvalidOperationException>(() => MailHost.Build(connectionString: null));

        Assert.Contains("ConnectionStrings:Mail is not set", error.Message, StringComparison.Ordinal);
        Assert.Contains("ConnectionStrings__Mail", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnreachableDatabaseStopsTheHostBeforeItListens()
    {
        // A port that was free a moment ago: connecting to it is refused at once.
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        await using var host = MailHost.Build($"Host=127.0.0.1;Port={port};Username=nobody;Password=x;Database=mail;Timeout=3");

        await Assert.ThrowsAsync<NpgsqlException>(() => host.Host.StartAsync(Ct));
        Assert.Empty(host.Host.Services.GetRequiredService<SmtpServer>().Endpoints);
    }

    [Fact]
    public async Task AMessageSizeLimitBeyondWhatByteaHoldsFailsValidationAtStart()
    {
        await using var host = MailHost.Build(
            "Host=127.0.0.1;Port=1;Username=nobody;Database=mail",
            new Dictionary<string, string?> { ["Smtpd:MaxMessageSize"] = (2L << 30).ToString(System.Globalization.CultureInfo.InvariantCulture) });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync(Ct));

        Assert.Contains("a PostgreSQL bytea column holds at most 1073741824 octets", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDeliveryKeyIgnoresRecipientOrderButNotTheEnvelopeOrTheContent()
    {
        byte[] content = [1, 2, 3];
        byte[] other = [1, 2, 4];
        var key = PostgresMessageStore.DeliveryKey("a@example.com", ["b@example.com", "c@example.com"], content);

        Assert.Equal(key, PostgresMessageStore.DeliveryKey("a@example.com", ["c@example.com", "b@example.com"], content));
        Assert.NotEqual(key, PostgresMessageStore.DeliveryKey(string.Empty, ["b@example.com", "c@example.com"], content));
        Assert.NotEqual(key, PostgresMessageStore.DeliveryKey("a@example.com", ["b@example.com"], content));
        Assert.NotEqual(key, PostgresMessageStore.DeliveryKey("a@example.com", ["b@example.com", "c@example.com"], other));
    }
}
