using System.Diagnostics.Metrics;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Metrics;

/// <summary>
/// The catcher's own instruments, on a <see cref="Meter"/> named <see cref="MailCatcher.MeterName"/> that each
/// catcher owns (as each <see cref="SmtpServer"/> owns its <see cref="SmtpServer.MeterName"/> meter): messages
/// stored, the store's size, and the depths of the queues that run behind SMTP. The gauges are read only when
/// something collects them (a scrape of <c>/metrics</c>), never on the SMTP path.
/// </summary>
internal sealed class CatcherMetrics : IDisposable
{
    private static readonly KeyValuePair<string, object?>[] StoreQueue = [new("queue", "store")];
    private static readonly KeyValuePair<string, object?> WebhookQueue = new("queue", "webhook");
    private static readonly KeyValuePair<string, object?> RelayQueue = new("queue", "relay");

    private readonly MailCatcher _catcher;
    private readonly Func<int?> _storeQueueLength;
    private readonly Counter<long> _stored;
    private StoreFigures? _figures;

    public CatcherMetrics(MailCatcher catcher, Func<int?> storeQueueLength)
    {
        _catcher = catcher;
        _storeQueueLength = storeQueueLength;
        Meter = new Meter(MailCatcher.MeterName, typeof(MailCatcher).Assembly.GetName().Version?.ToString());
        _stored = Meter.CreateCounter<long>("smtpd.catcher.messages.stored", "{message}", "Messages stored (or, without a store, caught), from SMTP and from POST /api/v1/send.");
        Meter.CreateObservableGauge("smtpd.catcher.store.messages", () => Figures() is { } f ? [new Measurement<long>(f.Messages)] : (IEnumerable<Measurement<long>>)[], "{message}", "Messages in the store now.");
        Meter.CreateObservableGauge("smtpd.catcher.store.unread", () => Figures() is { } f ? [new Measurement<long>(f.Unread)] : (IEnumerable<Measurement<long>>)[], "{message}", "Unread messages in the store now.");
        Meter.CreateObservableGauge("smtpd.catcher.store.size", () => Figures() is { } f ? [new Measurement<long>(f.Size)] : (IEnumerable<Measurement<long>>)[], "By", "Size of the store's database (pages in use, WAL not counted).");
        Meter.CreateObservableGauge("smtpd.catcher.queue.length", QueueLengths, "{item}", "Items waiting in a queue behind SMTP: store (messages waiting for their commit), webhook, relay.");
        Meter.CreateObservableCounter("smtpd.catcher.queue.dropped", QueueDrops, "{item}", "Items dropped because their queue was full (webhook, relay); SMTP is never delayed.");
    }

    public Meter Meter { get; }

    /// <summary>Counts the messages the catcher has stored so far as zero, so the series exists before the first one.</summary>
    public void Start() => _stored.Add(0);

    public void Stored()
    {
        if (_stored.Enabled)
        {
            _stored.Add(1);
        }
    }

    /// <summary>A scrape begins: the store's figures are read again, once for the three gauges.</summary>
    public void BeginCollect() => _figures = null;

    public void Dispose() => Meter.Dispose();

    private StoreFigures? Figures()
    {
        if (_figures is { } cached)
        {
            return cached;
        }

        if (_catcher.Store is not { } catcherStore)
        {
            return null;
        }

        try
        {
            using var store = catcherStore.Open();
            var page = store.Page(null, 0, 0);
            return _figures = new StoreFigures(page.Total, page.Unread, store.DatabaseSize());
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or StoreUnavailableException or ObjectDisposedException or InvalidOperationException)
        {
            // The store is closing, or PostgreSQL is down: its gauges are left out of this scrape, which still
            // answers (a scrape that fails on an outage would hide every other series exactly when they matter).
            return null;
        }
    }

    private IEnumerable<Measurement<int>> QueueLengths()
    {
        var measurements = new List<Measurement<int>>(3);
        if (_storeQueueLength() is { } store)
        {
            measurements.Add(new Measurement<int>(store, StoreQueue));
        }

        if (_catcher.Hooks?.Webhook is { } webhook)
        {
            measurements.Add(new Measurement<int>(webhook.Depth, WebhookQueue));
        }

        if (_catcher.Hooks?.Relay is { } relay)
        {
            measurements.Add(new Measurement<int>(relay.Depth, RelayQueue));
        }

        return measurements;
    }

    private IEnumerable<Measurement<long>> QueueDrops()
    {
        var measurements = new List<Measurement<long>>(2);
        if (_catcher.Hooks?.Webhook is { } webhook)
        {
            measurements.Add(new Measurement<long>(webhook.Dropped, WebhookQueue));
        }

        if (_catcher.Hooks?.Relay is { } relay)
        {
            measurements.Add(new Measurement<long>(relay.Dropped, RelayQueue));
        }

        return measurements;
    }

    private sealed record StoreFigures(long Messages, long Unread, long Size);
}
