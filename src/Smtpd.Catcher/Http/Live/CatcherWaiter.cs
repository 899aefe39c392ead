using System.Text.Json;

namespace Smtpd.Catcher.Http.Live;

/// <summary>How a wait ended.</summary>
internal enum CatcherWaitOutcome
{
    /// <summary>Enough matching messages are stored.</summary>
    Found,

    /// <summary>The timeout passed first.</summary>
    TimedOut,

    /// <summary>Too many waits already (<see cref="CatcherLiveOptions.MaxWaits"/>), or the server is stopping.</summary>
    Unavailable,
}

/// <summary>The end of a wait.</summary>
/// <param name="Outcome">How it ended.</param>
/// <param name="Messages">The matching messages found, newest first, at most the count asked for.</param>
/// <param name="Reason">For <see cref="CatcherWaitOutcome.Unavailable"/>, why.</param>
internal sealed record CatcherWaitResult(CatcherWaitOutcome Outcome, IReadOnlyList<CatcherMessageSummary> Messages, string? Reason = null);

/// <summary>
/// Waits until <c>count</c> stored messages match a query. It subscribes to the hub first, then looks at the store,
/// then waits for <c>new</c> events: a message stored between the two steps is seen by both and counted once (by
/// ID), and none can fall in a gap. No polling: only events wake it.
/// </summary>
internal sealed class CatcherWaiter
{
    private readonly CatcherEvents _hub;
    private readonly ICatcherMessageQuery _query;
    private readonly TimeProvider _time;

    /// <summary>Creates the waiter.</summary>
    /// <param name="hub">The events.</param>
    /// <param name="query">The store's search.</param>
    /// <param name="time">The clock for timeouts.</param>
    public CatcherWaiter(CatcherEvents hub, ICatcherMessageQuery query, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(hub);
        ArgumentNullException.ThrowIfNull(query);
        _hub = hub;
        _query = query;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Raised after the wait has subscribed and looked at the store, just before it blocks; for tests and diagnostics.</summary>
    public event Action<string>? Blocking;

    /// <summary>The hub the waiter subscribes to.</summary>
    public CatcherEvents Hub => _hub;

    /// <summary>Waits.</summary>
    /// <param name="query">A query that <see cref="ICatcherMessageQuery.Validate"/> accepted.</param>
    /// <param name="count">How many matching messages to wait for, at least 1.</param>
    /// <param name="timeout">How long to wait; zero looks at the store once.</param>
    /// <param name="peer">Who waits, for the log.</param>
    /// <param name="cancellationToken">The request's end.</param>
    /// <returns>How it ended, with the messages found.</returns>
    public async Task<CatcherWaitResult> WaitAsync(string query, int count, TimeSpan timeout, string peer, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        using var timer = new CancellationTokenSource(timeout, _time);
        using var work = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _hub.Closing);
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(work.Token, timer.Token);
        var found = new Found(count);
        try
        {
            while (true)
            {
                using var subscription = _hub.TrySubscribe(CatcherSubscriberKind.Wait, peer, mailbox: _query.Mailbox);
                if (subscription is null)
                {
                    return Unavailable();
                }

                // Subscribed first, so whatever is stored from now on arrives as an event; then the store covers
                // everything before. The store is read with the request's token, not the timer's, so timeout=0
                // still looks once.
                found.Reset(await _query.ListAsync(query, count, work.Token));
                if (found.Complete)
                {
                    return new CatcherWaitResult(CatcherWaitOutcome.Found, found.Newest());
                }

                Blocking?.Invoke(query);
                try
                {
                    if (await FollowAsync(subscription, query, found, waiting.Token, work.Token))
                    {
                        return new CatcherWaitResult(CatcherWaitOutcome.Found, found.Newest());
                    }
                }
                catch (OperationCanceledException) when (timer.IsCancellationRequested && !work.IsCancellationRequested)
                {
                    return new CatcherWaitResult(CatcherWaitOutcome.TimedOut, found.Newest());
                }

                if (_hub.Closing.IsCancellationRequested)
                {
                    return Unavailable();
                }

                // The hub dropped this wait for falling behind (a flood of mail while a match was checked):
                // subscribe again and look at the store again, which holds everything the dropped events said.
            }
        }
        catch (OperationCanceledException) when (_hub.Closing.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return Unavailable();
        }

        static CatcherWaitResult Unavailable() => new(CatcherWaitOutcome.Unavailable, [], "the server is stopping or too many waits are in progress");
    }

    /// <summary>Follows the events until the count is reached (true) or the hub ends the subscription (false).</summary>
    private async Task<bool> FollowAsync(CatcherSubscription subscription, string query, Found found, CancellationToken waiting, CancellationToken work)
    {
        var events = subscription.Events;
        while (await events.WaitToReadAsync(waiting))
        {
            while (events.TryRead(out var e))
            {
                switch (e.Type)
                {
                    case CatcherEventTypes.New when e.Message is { } message && await _query.MatchesAsync(query, message, work):
                        found.Add(new CatcherMessageSummary(message.Id, Read: false, e.Data));
                        break;
                    case CatcherEventTypes.Delete:
                        found.Remove(ReadId(e.Data));
                        break;
                    case CatcherEventTypes.Truncate:
                        found.Reset([]);
                        break;
                    case CatcherEventTypes.Prune:
                        found.Reset(await _query.ListAsync(query, found.Wanted, work));
                        break;
                    default:
                        // update and stats: read status and tags do not change what the store's query matches here;
                        // a search on them is checked against the store when the wait (re)starts.
                        break;
                }

                if (found.Complete)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static string? ReadId(ReadOnlyMemory<byte> data)
    {
        var reader = new Utf8JsonReader(data.Span);
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("ID"u8) && reader.Read())
            {
                return reader.GetString();
            }
        }

        return null;
    }

    /// <summary>The matching messages found so far, by ID, in the order they were stored.</summary>
    private sealed class Found(int wanted)
    {
        private readonly List<CatcherMessageSummary> _oldestFirst = [];

        public int Wanted => wanted;

        public bool Complete => _oldestFirst.Count >= wanted;

        public void Reset(IReadOnlyList<CatcherMessageSummary> newestFirst)
        {
            _oldestFirst.Clear();
            for (var i = newestFirst.Count - 1; i >= 0; i--)
            {
                _oldestFirst.Add(newestFirst[i]);
            }
        }

        public void Add(CatcherMessageSummary message)
        {
            // The store's look and the events overlap for messages stored while the store was read: count once.
            if (!_oldestFirst.Exists(m => m.Id == message.Id))
            {
                _oldestFirst.Add(message);
            }
        }

        public void Remove(string? id) => _oldestFirst.RemoveAll(m => m.Id == id);

        public CatcherMessageSummary[] Newest() => _oldestFirst.AsEnumerable().Reverse().Take(wanted).ToArray();
    }
}
