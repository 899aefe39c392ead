using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Smtpd.Catcher.Http.Live;

/// <summary>
/// The live half of the catcher's HTTP API as one service: the event hub, the search the wait uses, and the bridge
/// that feeds the hub everything the catcher announces. <c>AddSmtpdCatcher</c> registers it; the container disposes
/// it when the host stops, which ends every stream with "the server is stopping".
/// </summary>
/// <remarks>
/// Two sources feed the hub. Messages stored over SMTP or <c>/api/v1/send</c> come from
/// <see cref="MailCatcher.MessageStored"/> (after the commit, before the <c>250</c>), with the record a wait matches
/// against. Every other change (read status, tags, deletes, truncation, pruning) comes from the catcher's
/// <see cref="CatcherEventHub"/>, where the REST routes and the store's retention announce it after their commit.
/// </remarks>
internal sealed class CatcherLive : IDisposable
{
    private readonly MailCatcher _catcher;
    private readonly IDisposable _stored;

    /// <summary>Creates the hub and starts forwarding the catcher's changes to it.</summary>
    /// <param name="catcher">The catcher.</param>
    /// <param name="query">The store's search.</param>
    /// <param name="loggerFactory">Where dropped subscribers are logged.</param>
    public CatcherLive(MailCatcher catcher, ICatcherMessageQuery query, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(catcher);
        ArgumentNullException.ThrowIfNull(query);
        _catcher = catcher;
        Query = query;
        Hub = new CatcherEvents(catcher.Options.Live, query.StatsAsync, loggerFactory?.CreateLogger("Smtpd.Catcher.Events"));
        _stored = Hub.PublishStoredMessages(catcher, static (_, record) => MailboxMessageQuery.Summary(record with { SearchBody = null }));
        catcher.Events.Published += Forward;
    }

    /// <summary>The event hub the WebSocket, SSE and wait routes read.</summary>
    public CatcherEvents Hub { get; }

    /// <summary>The store's search, for the wait.</summary>
    public ICatcherMessageQuery Query { get; }

    /// <inheritdoc/>
    public void Dispose()
    {
        _catcher.Events.Published -= Forward;
        _stored.Dispose();
        Hub.Dispose();
    }

    private void Forward(CatcherChange change)
    {
        if (change.Data is null)
        {
            Hub.Publish(change.Type, default, mailbox: change.Mailbox);
            return;
        }

        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            change.WriteData(writer);
        }

        Hub.Publish(change.Type, buffer.WrittenMemory, mailbox: change.Mailbox);
    }
}
