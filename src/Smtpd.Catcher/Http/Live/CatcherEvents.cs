using System.Reflection;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Http.Live;

/// <summary>Writes the summary JSON of a stored message, the object the list route returns for it.</summary>
/// <param name="id">The message's ID.</param>
/// <param name="record">What the store keeps about it.</param>
/// <returns>The summary as UTF-8 JSON.</returns>
internal delegate ReadOnlyMemory<byte> CatcherSummaryWriter(string id, MessageRecord record);

/// <summary>What a subscriber is, for its limit: a stream (WebSocket or SSE) or a blocking wait.</summary>
internal enum CatcherSubscriberKind
{
    /// <summary>A WebSocket or SSE client, counted against <see cref="CatcherLiveOptions.MaxSubscribers"/>.</summary>
    Stream,

    /// <summary>A <c>/api/v1/wait</c> request, counted against <see cref="CatcherLiveOptions.MaxWaits"/>.</summary>
    Wait,
}

/// <summary>
/// The catcher's event hub. Publishers (the SMTP delivery path, the REST routes, retention) call <c>Publish…</c>; each
/// subscriber reads its own bounded queue. Publishing never waits: it numbers the event, keeps it in a small replay
/// ring, and offers it to every queue; a subscriber whose queue is full is dropped on the spot (its stream is ended
/// with the reason and the drop is logged), so a slow or stuck client can never hold up SMTP ingest or the others.
/// </summary>
internal sealed class CatcherEvents : IDisposable
{
    private readonly CatcherLiveOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<CancellationToken, ValueTask<CatcherMailboxStats>>? _stats;
    private readonly Lock _gate = new();
    private readonly List<CatcherSubscription> _subscribers = [];
    private readonly CatcherEvent?[] _ring;
    private readonly CancellationTokenSource _closing = new();
    private long _sequence;
    private int _ringNext;
    private int _streams;
    private int _waits;
    private long _dropped;
    private int _statsPending;
    private bool _closed;

    /// <summary>Creates the hub.</summary>
    /// <param name="options">The limits; read now.</param>
    /// <param name="stats">Counts the mailbox for <c>stats</c> events, or <see langword="null"/> to send none.</param>
    /// <param name="logger">Where drops are logged.</param>
    /// <param name="time">The clock for the <c>stats</c> rate limit.</param>
    public CatcherEvents(CatcherLiveOptions options, Func<CancellationToken, ValueTask<CatcherMailboxStats>>? stats = null, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _stats = stats;
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _ring = new CatcherEvent?[options.ReplayCapacity];
        // Numbers start at the clock (microseconds since 1970, below 2^53 so JavaScript keeps them exact): a client
        // that reconnects with an ID from before a restart holds a number below every new one, which the replay
        // treats as a gap instead of mistaking it for a recent event.
        _sequence = _time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
    }

    /// <summary>The version that <c>stats</c> events report: the catcher assembly's informational version.</summary>
    public static string Version { get; } =
        typeof(CatcherEvents).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    /// <summary>The limits.</summary>
    public CatcherLiveOptions Options => _options;

    /// <summary>The number of the last event published.</summary>
    public long LastSequence
    {
        get
        {
            lock (_gate)
            {
                return _sequence;
            }
        }
    }

    /// <summary>How many WebSocket and SSE clients listen now.</summary>
    public int StreamCount => Volatile.Read(ref _streams);

    /// <summary>How many waits are subscribed now.</summary>
    public int WaitCount => Volatile.Read(ref _waits);

    /// <summary>How many subscribers were dropped for falling behind since the hub started.</summary>
    public long DroppedCount => Interlocked.Read(ref _dropped);

    /// <summary>Completes when the hub closes (the host is stopping), so streams can end.</summary>
    public CancellationToken Closing => _closing.Token;

    /// <summary>Raised (on a thread-pool thread) after a subscriber is dropped for falling behind.</summary>
    public event Action<CatcherSubscription>? SubscriberDropped;

    /// <summary>Subscribes, if the limit for <paramref name="kind"/> allows.</summary>
    /// <param name="kind">Stream or wait.</param>
    /// <param name="peer">Who, for the log (the client's address).</param>
    /// <param name="lastEventId">
    /// The last event the client saw (SSE <c>Last-Event-ID</c>): the events after it still in the replay ring are
    /// queued first. When some of them are gone, a <c>prune</c> event comes first, telling the client to reload.
    /// </param>
    /// <param name="mailbox">
    /// A named mailbox (<c>?mailbox=</c>): only its new messages, and the changes to the store or to it alone, are
    /// queued; <see langword="null"/> for every message and only changes to the store.
    /// </param>
    /// <returns>The subscription, or <see langword="null"/> when the limit is reached or the hub is closed.</returns>
    public CatcherSubscription? TrySubscribe(CatcherSubscriberKind kind, string peer, long? lastEventId = null, string? mailbox = null)
    {
        var limit = kind == CatcherSubscriberKind.Stream ? _options.MaxSubscribers : _options.MaxWaits;
        lock (_gate)
        {
            ref var count = ref kind == CatcherSubscriberKind.Stream ? ref _streams : ref _waits;
            if (_closed || count >= limit)
            {
                return null;
            }

            var subscription = new CatcherSubscription(this, kind, peer, _options.SubscriberQueueCapacity) { Mailbox = mailbox };
            if (lastEventId is { } last && last < _sequence)
            {
                Replay(subscription, last);
            }

            _subscribers.Add(subscription);
            Volatile.Write(ref count, count + 1);
            return subscription;
        }
    }

    /// <summary>
    /// Publishes a <c>new</c> event for every message <paramref name="catcher"/> stores, from its commit, before the
    /// client gets its <c>250</c>: a wait answers no later than the sender learns the message is stored.
    /// </summary>
    /// <param name="catcher">The catcher.</param>
    /// <param name="summaries">Writes each message's summary JSON (the list route's object).</param>
    /// <returns>Disposing it stops publishing.</returns>
    public IDisposable PublishStoredMessages(MailCatcher catcher, CatcherSummaryWriter summaries)
    {
        ArgumentNullException.ThrowIfNull(catcher);
        ArgumentNullException.ThrowIfNull(summaries);
        void OnStored(string id, MessageRecord record)
        {
            try
            {
                PublishNew(new CatcherStoredMessage(id, record), () => summaries(id, record));
            }
#pragma warning disable CA1031 // The message is committed: a failed event must not turn its 250 into an error (the client would send it again).
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _logger.LogError(ex, "Could not publish the new event of message {Id}", id);
            }
        }

        catcher.MessageArrived += OnStored;
        return new Detach(() => catcher.MessageArrived -= OnStored);
    }

    /// <summary>Publishes a <c>new</c> event.</summary>
    /// <param name="message">The stored message.</param>
    /// <param name="summary">Its summary JSON, the object the list route returns.</param>
    public void PublishNew(CatcherStoredMessage message, ReadOnlyMemory<byte> summary)
    {
        ArgumentNullException.ThrowIfNull(message);
        Publish(CatcherEventTypes.New, summary, message);
    }

    /// <summary>Publishes a <c>new</c> event whose summary is made when a client or a wait first reads it.</summary>
    /// <param name="message">The stored message.</param>
    /// <param name="summary">Makes its summary JSON, the object the list route returns.</param>
    public void PublishNew(CatcherStoredMessage message, Func<ReadOnlyMemory<byte>> summary)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(summary);
        Publish(sequence => new CatcherEvent(sequence, CatcherEventTypes.New, summary, message), CatcherEventTypes.New);
    }

    /// <summary>Publishes the <c>update</c> event of a change of read status.</summary>
    /// <param name="id">The message's ID.</param>
    /// <param name="read">Whether it is now read.</param>
    public void PublishReadState(string id, bool read) =>
        Publish(CatcherEventTypes.Update, JsonSerializer.SerializeToUtf8Bytes(new ReadStateData(id, read), LiveJsonContext.Default.ReadStateData));

    /// <summary>Publishes the <c>update</c> event of a change of tags.</summary>
    /// <param name="id">The message's ID.</param>
    /// <param name="tags">Its tags now.</param>
    public void PublishTags(string id, IReadOnlyList<string> tags) =>
        Publish(CatcherEventTypes.Update, JsonSerializer.SerializeToUtf8Bytes(new TagsData(id, tags), LiveJsonContext.Default.TagsData));

    /// <summary>Publishes a <c>delete</c> event.</summary>
    /// <param name="id">The deleted message's ID.</param>
    public void PublishDeleted(string id) =>
        Publish(CatcherEventTypes.Delete, JsonSerializer.SerializeToUtf8Bytes(new DeletedData(id), LiveJsonContext.Default.DeletedData));

    /// <summary>Publishes a <c>truncate</c> event: every message was deleted.</summary>
    public void PublishTruncate() => Publish(CatcherEventTypes.Truncate, default);

    /// <summary>Publishes a <c>prune</c> event: many messages went at once; clients reload their list.</summary>
    public void PublishPrune() => Publish(CatcherEventTypes.Prune, default);

    /// <summary>
    /// Asks for a <c>stats</c> event. Requests within <see cref="CatcherLiveOptions.StatsInterval"/> are folded
    /// into one, counted after the interval, so the count is fresh and bursts cost one query.
    /// </summary>
    public void RequestStats()
    {
        if (_stats is null || _closing.IsCancellationRequested || Interlocked.Exchange(ref _statsPending, 1) == 1)
        {
            return;
        }

        _ = PublishStatsAsync(_stats);
    }

    /// <summary>Publishes an event to every subscriber; never waits.</summary>
    /// <param name="type">One of <see cref="CatcherEventTypes"/>.</param>
    /// <param name="data">The <c>Data</c> JSON; empty for <c>null</c>.</param>
    /// <param name="message">The stored message, for <c>new</c>.</param>
    /// <param name="mailbox">The named mailbox the change concerns alone, or <see langword="null"/> for a change to the store.</param>
    public void Publish(string type, ReadOnlyMemory<byte> data, CatcherStoredMessage? message = null, string? mailbox = null) =>
        Publish(sequence => new CatcherEvent(sequence, type, data, message, mailbox), type);

    /// <summary>Numbers the event <paramref name="make"/> creates, keeps it in the ring and offers it to every subscriber.</summary>
    private void Publish(Func<long, CatcherEvent> make, string type)
    {
        List<CatcherSubscription>? dropped = null;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            var published = make(++_sequence);
            if (_ring.Length > 0)
            {
                _ring[_ringNext] = published;
                _ringNext = (_ringNext + 1) % _ring.Length;
            }

            for (var i = _subscribers.Count - 1; i >= 0; i--)
            {
                var subscriber = _subscribers[i];
                if (!subscriber.Offer(published))
                {
                    (dropped ??= []).Add(subscriber);
                    RemoveAt(i);
                }
            }
        }

        if (type != CatcherEventTypes.Stats)
        {
            RequestStats();
        }

        if (dropped is not null)
        {
            foreach (var subscriber in dropped)
            {
                Drop(subscriber);
            }
        }
    }

    /// <summary>Closes the hub: every subscription ends with the reason that the server is stopping.</summary>
    public void Dispose()
    {
        CatcherSubscription[] ending;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            ending = [.. _subscribers];
            _subscribers.Clear();
            _streams = 0;
            _waits = 0;
        }

        _closing.Cancel();
        foreach (var subscription in ending)
        {
            subscription.End("the server is stopping");
        }
    }

    /// <summary>Removes a subscription that its reader no longer wants.</summary>
    /// <param name="subscription">The subscription.</param>
    internal void Unsubscribe(CatcherSubscription subscription)
    {
        lock (_gate)
        {
            var index = _subscribers.IndexOf(subscription);
            if (index >= 0)
            {
                RemoveAt(index);
            }
        }
    }

    private void RemoveAt(int index)
    {
        var subscription = _subscribers[index];
        _subscribers.RemoveAt(index);
        if (subscription.Kind == CatcherSubscriberKind.Stream)
        {
            Volatile.Write(ref _streams, _streams - 1);
        }
        else
        {
            Volatile.Write(ref _waits, _waits - 1);
        }
    }

    private void Replay(CatcherSubscription subscription, long lastEventId)
    {
        // The ring holds events in order from _ringNext (oldest) round to _ringNext - 1 (newest).
        var kept = new List<CatcherEvent>(_ring.Length);
        for (var i = 0; i < _ring.Length; i++)
        {
            if (_ring[(_ringNext + i) % _ring.Length] is { } e && e.Sequence > lastEventId)
            {
                kept.Add(e);
            }
        }

        var room = _options.SubscriberQueueCapacity;
        var missed = kept.Count == 0 ? _sequence - lastEventId : kept[0].Sequence - lastEventId - 1;
        if (missed > 0 || kept.Count > room)
        {
            // Some events are gone: a prune (numbered just before the first one replayed) says "reload", and the
            // newest that fit follow.
            var skip = Math.Max(0, kept.Count - (room - 1));
            var resume = skip < kept.Count ? kept[skip].Sequence - 1 : _sequence;
            subscription.Offer(new CatcherEvent(resume, CatcherEventTypes.Prune, ReadOnlyMemory<byte>.Empty, null));
            kept.RemoveRange(0, skip);
        }

        foreach (var e in kept)
        {
            subscription.Offer(e);
        }
    }

    private void Drop(CatcherSubscription subscription)
    {
        Interlocked.Increment(ref _dropped);
        var reason = $"fell behind: more than {_options.SubscriberQueueCapacity} events waiting to be sent";
        _logger.LogWarning("Dropped event subscriber {Peer} ({Kind}): {Reason}", subscription.Peer, subscription.Kind, reason);
        // Ending it cancels its token, whose callbacks may abort a socket: never on the publisher's thread.
        ThreadPool.UnsafeQueueUserWorkItem(static state =>
        {
            var (hub, dropped, why) = state;
            dropped.End(why);
            hub.SubscriberDropped?.Invoke(dropped);
        }, (this, subscription, reason), preferLocal: false);
    }

    private async Task PublishStatsAsync(Func<CancellationToken, ValueTask<CatcherMailboxStats>> stats)
    {
        try
        {
            // Publish asks for counts on the publisher's thread (an SMTP session before its 250) and the count runs
            // on the thread that resumes here, so a zero interval still yields: the count never delays a reply.
            if (_options.StatsInterval > TimeSpan.Zero)
            {
                await Task.Delay(_options.StatsInterval, _time, _closing.Token);
            }
            else
            {
                await Task.Yield();
            }

            Volatile.Write(ref _statsPending, 0);
            var counts = await stats(_closing.Token);
            Publish(CatcherEventTypes.Stats, JsonSerializer.SerializeToUtf8Bytes(new StatsData(counts.Total, counts.Unread, Version), LiveJsonContext.Default.StatsData));
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested)
        {
            // Stopping: nobody is left to tell.
        }
#pragma warning disable CA1031 // A failed count must not end the process or stop later counts; it is logged.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Volatile.Write(ref _statsPending, 0);
            _logger.LogWarning(ex, "Could not count the mailbox for a stats event");
        }
    }
}

/// <summary>Runs an action once, on dispose.</summary>
/// <param name="action">The action.</param>
internal sealed class Detach(Action action) : IDisposable
{
    private Action? _action = action;

    /// <inheritdoc/>
    public void Dispose() => Interlocked.Exchange(ref _action, null)?.Invoke();
}

/// <summary>
/// One subscriber's view of the hub: a bounded queue of events, and a token that is cancelled when the hub ends
/// the subscription (the client fell behind, or the server is stopping). Dispose it when the client goes away.
/// </summary>
internal sealed class CatcherSubscription : IDisposable
{
    private readonly CatcherEvents _hub;
    private readonly Channel<CatcherEvent> _queue;
    private readonly CancellationTokenSource _ended = new();
    private string? _endReason;

    /// <summary>Creates a subscription; only the hub does.</summary>
    /// <param name="hub">The hub.</param>
    /// <param name="kind">Stream or wait.</param>
    /// <param name="peer">Who, for the log.</param>
    /// <param name="capacity">The queue's size.</param>
    internal CatcherSubscription(CatcherEvents hub, CatcherSubscriberKind kind, string peer, int capacity)
    {
        _hub = hub;
        Kind = kind;
        Peer = peer;
        // Continuations never run on the publisher's thread (AllowSynchronousContinuations is false): a write only
        // queues, whatever the reader does next.
        _queue = Channel.CreateBounded<CatcherEvent>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
        });
    }

    /// <summary>Stream or wait.</summary>
    public CatcherSubscriberKind Kind { get; }

    /// <summary>Who, for the log.</summary>
    public string Peer { get; }

    /// <summary>The events, in publication order; completes when the hub ends the subscription.</summary>
    public ChannelReader<CatcherEvent> Events => _queue.Reader;

    /// <summary>Cancelled when the hub ends the subscription; a send in progress should give up.</summary>
    public CancellationToken Ended => _ended.Token;

    /// <summary>Why the hub ended the subscription, or <see langword="null"/> while it runs.</summary>
    public string? EndReason => Volatile.Read(ref _endReason);

    /// <inheritdoc/>
    public void Dispose()
    {
        _hub.Unsubscribe(this);
        _queue.Writer.TryComplete();
        _ended.Dispose();
    }

    /// <summary>Queues an event if there is room.</summary>
    /// <param name="published">The event.</param>
    /// <returns>Whether it was queued, or skipped as outside the subscription's mailbox; <see langword="false"/> when the queue is full.</returns>
    internal bool Offer(CatcherEvent published) => !Wants(published) || _queue.Writer.TryWrite(published);

    /// <summary>The named mailbox the subscriber watches (<c>?mailbox=</c>), or <see langword="null"/> for every message.</summary>
    public string? Mailbox { get; init; }

    /// <summary>
    /// Whether the event belongs to the subscriber's view. A mailbox's view gets the <c>new</c> events of its own
    /// messages (routed at ingest, so the record says), changes to the store, and changes to that mailbox alone; the
    /// default view gets every <c>new</c> event and only changes to the store.
    /// </summary>
    private bool Wants(CatcherEvent e) => Mailbox is null
        ? e.Mailbox is null
        : (e.Mailbox is null || e.Mailbox == Mailbox) && (e.Message is null || e.Message.Record.Mailboxes.Contains(Mailbox, StringComparer.Ordinal));

    /// <summary>Ends the subscription with a reason: the queue completes after what it holds, and <see cref="Ended"/> is cancelled.</summary>
    /// <param name="reason">Why, in one line.</param>
    internal void End(string reason)
    {
        if (Interlocked.CompareExchange(ref _endReason, reason, null) is null)
        {
            _queue.Writer.TryComplete();
            try
            {
                _ended.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The reader already went away.
            }
        }
    }
}
