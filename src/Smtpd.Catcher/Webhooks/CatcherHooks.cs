using Microsoft.Extensions.Logging;
using Smtpd.Catcher.Http;
using Smtpd.Catcher.Relay;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Webhooks;

/// <summary>
/// What runs after a message is stored without the SMTP session waiting on it: the webhook and automatic relay.
/// Attached to <see cref="MailCatcher.MessageStored"/> at start; each only queues (never blocks) on the session's
/// thread, and its own loop does the network work.
/// </summary>
internal sealed class CatcherHooks : IAsyncDisposable
{
    private readonly MailCatcher _catcher;
    private int _disposed;

    private CatcherHooks(MailCatcher catcher, WebhookQueue? webhook, RelayQueue? relay)
    {
        _catcher = catcher;
        Webhook = webhook;
        Relay = relay;
        catcher.MessageStored += OnStored;
    }

    /// <summary>The webhook queue, when <see cref="WebhookOptions.Url"/> is set.</summary>
    public WebhookQueue? Webhook { get; }

    /// <summary>The automatic relay queue, when <see cref="RelayOptions.Matching"/> is set.</summary>
    public RelayQueue? Relay { get; }

    /// <summary>Starts the queues the options ask for.</summary>
    /// <param name="catcher">The catcher, its store open.</param>
    /// <param name="loggerFactory">Where the queues log.</param>
    /// <returns>The hooks, or <see langword="null"/> when nothing is configured.</returns>
    /// <exception cref="CatcherConfigurationException">Automatic relay without a relay server, or a webhook or automatic relay without a store.</exception>
    public static CatcherHooks? Attach(MailCatcher catcher, ILoggerFactory loggerFactory)
    {
        var options = catcher.Options;
        RelayQueue? relay = null;
        if (options.Relay.Matching is not null)
        {
            if (!options.Relay.Enabled)
            {
                throw new CatcherConfigurationException(nameof(CatcherOptions.Relay), "automatic relay (Matching) needs a relay server (Relay.Server)");
            }

            // The loop reads each message back from the store after the 250: without one there is nothing to read.
            var store = catcher.Store ?? throw new CatcherConfigurationException(nameof(CatcherOptions.Relay), "automatic relay needs the store (DatabasePath)");
            relay = new RelayQueue(new MessageRelay(options.Relay), store, catcher.Events, loggerFactory.CreateLogger("Smtpd.Catcher.Relay"));
        }

        WebhookQueue? webhook = null;
        if (options.Webhook.Enabled)
        {
            // The summary's ID is the store's: a receiver fetches the message with it.
            _ = catcher.Store ?? throw new CatcherConfigurationException(nameof(CatcherOptions.Webhook), "the webhook needs the store (DatabasePath): its summaries name stored messages");
            webhook = new WebhookQueue(options.Webhook, loggerFactory.CreateLogger("Smtpd.Catcher.Webhooks"));
        }

        return webhook is null && relay is null ? null : new CatcherHooks(catcher, webhook, relay);
    }

    /// <summary>Detaches, then stops both loops; a second call (stop, then dispose) does nothing.</summary>
    /// <returns>A task that completes when both have stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _catcher.MessageStored -= OnStored;
        if (Webhook is not null)
        {
            await Webhook.DisposeAsync();
        }

        if (Relay is not null)
        {
            await Relay.DisposeAsync();
        }
    }

    private void OnStored(string id, MessageRecord record)
    {
        // The list entry of /api/v1/messages (never a body).
        Webhook?.Offer(ApiMapper.Summary(record with { SearchBody = null }));

        Relay?.Offer(record);
    }
}
