using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Smtpd.Hosting.Tests;

/// <summary>The "Smtpd" meter of a hosted server, as docs/hosting.md ("Metrics") describes it to a collector.</summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task AListenerOnTheSmtpdMeterSeesAHostedServersConnectionsMessagesAndRejectionsTaggedWithItsListener()
    {
        await using var host = await TestHost.StartAsync(smtpd: b => b.AddRecipientValidator<NoEve>());
        var listener = host.EndPoint.ToString();
        // Other tests run servers in parallel, each with a meter of the same name: keep only this server's series,
        // which its listener tag (a port no other server has) tells apart, as a collector would.
        var totals = new ConcurrentDictionary<string, long>();
        using var meterListener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == SmtpServer.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        meterListener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var labels = new List<string>();
            var ours = false;
            foreach (var tag in tags)
            {
                if (tag.Key == "listener")
                {
                    ours = Equals(tag.Value, listener);
                }
                else
                {
                    labels.Add($"{tag.Key}={tag.Value}");
                }
            }

            if (ours)
            {
                totals.AddOrUpdate(string.Join(' ', [instrument.Name, .. labels]), value, (_, sum) => sum + value);
            }
        });
        meterListener.Start();

        await host.SendAsync(TestHost.NewMessage(to: "bob@example.com"));
        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => host.SendAsync(TestHost.NewMessage(to: "eve@example.com")));
        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, refused.ErrorCode);

        Assert.Equal(2, totals.GetValueOrDefault("smtpd.connections"));
        Assert.Equal(1, totals.GetValueOrDefault("smtpd.messages.accepted"));
        Assert.InRange(totals.GetValueOrDefault("smtpd.messages.accepted.size"), 100, 10_000);
        Assert.Equal(1, totals.GetValueOrDefault("smtpd.replies.rejected command=rcpt class=5xx"));
        Assert.DoesNotContain(totals.Keys, key => key.Contains("4xx", StringComparison.Ordinal));
    }

    private sealed class NoEve : ISmtpRecipientValidator
    {
        public ValueTask<SmtpVerdict> ValidateRecipientAsync(SmtpSessionContext session, SmtpMailbox recipient, CancellationToken cancellationToken) =>
            ValueTask.FromResult(recipient.ToString().StartsWith("eve@", StringComparison.Ordinal)
                ? SmtpVerdict.Reject(550, "5.1.1", "Unknown user")
                : SmtpVerdict.Accept);
    }
}
