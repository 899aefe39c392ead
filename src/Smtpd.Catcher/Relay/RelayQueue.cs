using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Smtpd.Catcher.Http;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Relay;

/// <summary>The data of an <c>error</c> event: something the catcher did on its own failed (Mailpit's error event).</summary>
internal sealed class ErrorEvent
{
    /// <summary>What failed: <c>relay</c> or <c>webhook</c>.</summary>
    public string Type { get; init; } = string.Empty;

    /// <summary>The message concerned.</summary>
    public string ID { get; init; } = string.Empty;

    /// <summary>One line naming the server and its reply.</summary>
    public string Message { get; init; } = string.Empty;
}

/// <summary>
/// Automatic relay (<see cref="RelayOptions.Matching"/>): a stored message with matching recipients is queued by id
/// after its commit, and one background loop relays it from the store. The SMTP session never waits on it: a full
/// queue drops the relay (logged and counted) and a failed relay is logged and announced as an <c>error</c> event;
/// the message stays stored either way.
/// </summary>
internal sealed class RelayQueue : IAsyncDisposable
{
    private readonly MessageRelay _relay;
    private readonly ICatcherStore _store;
    private readonly CatcherEventHub _events;
    private readonly ILogger _logger;
    private readonly Channel<(long Id, IReadOnlyList<string> Recipients, string MailFrom)> _queue;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private long _dropped;
    private long _relayed;
    private long _failed;

    /// <summary>Starts the loop.</summary>
    /// <param name="relay">The relay.</param>
    /// <param name="store">The store the messages are read from.</param>
    /// <param name="events">Where failures are announced.</param>
    /// <param name="logger">Where failures and drops are logged.</param>
    public RelayQueue(MessageRelay relay, ICatcherStore store, CatcherEventHub events, ILogger logger)
    {
        _relay = relay;
        _store = store;
        _events = events;
        _logger = logger;
        _queue = Channel.CreateBounded<(long, IReadOnlyList<string>, string)>(new BoundedChannelOptions(relay.Options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>How many messages wait for relay now.</summary>
    public int Depth => _queue.Reader.Count;

    /// <summary>How many relays were dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>How many messages were relayed.</summary>
    public long Relayed => Interlocked.Read(ref _relayed);

    /// <summary>How many relays failed.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Raised after each relay attempt with the id and the error, or <see langword="null"/> on success (tests wait on it).</summary>
    public event Action<long, RelayException?>? Attempted;

    /// <summary>Queues a stored message when some recipient matches; never waits.</summary>
    /// <param name="record">The stored message.</param>
    public void Offer(MessageRecord record)
    {
        var matching = _relay.Options.Matching;
        if (matching is null || record.Id == 0)
        {
            return;
        }

        var recipients = record.Recipients.Where(r => matching.IsMatch(r) && _relay.Options.IsAllowed(r)).ToList();
        if (recipients.Count == 0)
        {
            return;
        }

        if (!_queue.Writer.TryWrite((record.Id, recipients, record.MailFrom)))
        {
            Interlocked.Increment(ref _dropped);
            _logger.LogWarning("Relay queue full ({Capacity}): message {Id} is not relayed to {Server}", _relay.Options.QueueCapacity, record.Id, _relay.Options.ServerName);
        }
    }

    /// <summary>Stops taking messages, lets the relay in progress end (or cancels it) and stops the loop.</summary>
    /// <returns>A task that completes when the loop has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stopping.CancelAsync();
        await _loop;
        _stopping.Dispose();
    }

    private async Task RunAsync()
    {
        try
        {
            await foreach (var (id, recipients, mailFrom) in _queue.Reader.ReadAllAsync(_stopping.Token))
            {
                await RelayOneAsync(id, recipients, mailFrom);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping: what is still queued stays stored and can be released by hand.
        }
    }

    private async Task RelayOneAsync(long id, IReadOnlyList<string> recipients, string mailFrom)
    {
        RelayException? error = null;
        try
        {
            using var store = _store.Open();
            if (store.Find(id) is not { } record)
            {
                return; // deleted before its turn
            }

            await using var content = store.OpenContent(record);
            await _relay.SendAsync(content, mailFrom, recipients, _stopping.Token);
            Interlocked.Increment(ref _relayed);
        }
        catch (RelayException ex)
        {
            error = ex;
            Interlocked.Increment(ref _failed);
            _logger.LogWarning("Automatic relay of message {Id} failed: {Reason}", id, ex.Message);
            _events.Publish("error", new ErrorEvent { Type = "relay", ID = ApiMapper.Id(id), Message = ex.Message });
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A store or parse failure must not end the loop: the next message still gets its relay.
            error = new RelayException(RelayFailure.Unreachable, $"message {id} could not be read for relay: {ex.Message}", ex);
            Interlocked.Increment(ref _failed);
            _logger.LogError(ex, "Automatic relay of message {Id} failed", id);
            _events.Publish("error", new ErrorEvent { Type = "relay", ID = ApiMapper.Id(id), Message = error.Message });
        }

        Attempted?.Invoke(id, error);
    }
}
