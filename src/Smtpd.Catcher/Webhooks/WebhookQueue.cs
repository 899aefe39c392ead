using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Smtpd.Catcher.Http;

namespace Smtpd.Catcher.Webhooks;

/// <summary>
/// Delivers the webhook: each new message's summary JSON is queued (bounded) and one background loop POSTs it,
/// in order, retrying a failed POST with exponential backoff up to <see cref="WebhookOptions.MaxAttempts"/>. The
/// SMTP session only serializes the summary and tries to queue it: when the queue is full the summary is dropped,
/// logged and counted, so a slow or dead receiver never delays a 250.
/// </summary>
internal sealed class WebhookQueue : IAsyncDisposable
{
    private static readonly MediaTypeHeaderValue Json = new("application/json") { CharSet = "utf-8" };

    private readonly WebhookOptions _options;
    private readonly Uri _url;
    private readonly ILogger _logger;
    private readonly HttpClient _client;
    private readonly Channel<(string Id, byte[] Body)> _queue;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private long _dropped;
    private long _delivered;
    private long _failed;

    /// <summary>Starts the loop.</summary>
    /// <param name="options">The options; <see cref="WebhookOptions.Url"/> must be set.</param>
    /// <param name="logger">Where failures and drops are logged.</param>
    public WebhookQueue(WebhookOptions options, ILogger logger)
    {
        _options = options;
        _url = options.Url ?? throw new InvalidOperationException("No webhook URL is configured.");
        _logger = logger;
        // One client for the catcher's life; the handler recycles connections so a DNS change is seen.
        _client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan, // each POST has its own deadline on the options' clock
        };
        _client.DefaultRequestHeaders.UserAgent.ParseAdd("smtpd-webhook");
        _queue = Channel.CreateBounded<(string, byte[])>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>How many summaries wait now.</summary>
    public int Depth => _queue.Reader.Count;

    /// <summary>How many summaries were dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>How many summaries the receiver accepted.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>How many summaries were given up on after their last attempt or a final answer.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Raised on the loop after each summary is delivered or given up on (tests wait on it).</summary>
    public event Action? Settled;

    /// <summary>Queues a new message's summary; never waits.</summary>
    /// <param name="summary">The summary, as <c>/api/v1/messages</c> lists it.</param>
    public void Offer(ApiMessageSummary summary)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(summary, ApiJsonContext.Default.ApiMessageSummary);
        if (!_queue.Writer.TryWrite((summary.ID, body)))
        {
            Interlocked.Increment(ref _dropped);
            _logger.LogWarning("Webhook queue full ({Capacity}): the summary of message {Id} is dropped", _options.QueueCapacity, summary.ID);
        }
    }

    /// <summary>Stops: what is queued is not sent, a POST in progress is cancelled.</summary>
    /// <returns>A task that completes when the loop has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stopping.CancelAsync();
        await _loop;
        _client.Dispose();
        _stopping.Dispose();
    }

    private async Task RunAsync()
    {
        try
        {
            await foreach (var (id, body) in _queue.Reader.ReadAllAsync(_stopping.Token))
            {
                await DeliverAsync(id, body);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private async Task DeliverAsync(string id, byte[] body)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (retry, reason) = await PostAsync(body);
            if (reason is null)
            {
                Interlocked.Increment(ref _delivered);
                Settled?.Invoke();
                return;
            }

            if (!retry || attempt >= _options.MaxAttempts)
            {
                Interlocked.Increment(ref _failed);
                _logger.LogWarning("Webhook {Url} did not take message {Id} after {Attempts} attempt(s): {Reason}", _url, id, attempt, reason);
                Settled?.Invoke();
                return;
            }

            await Task.Delay(_options.Backoff(attempt), _options.TimeProvider, _stopping.Token);
        }
    }

    /// <summary>One POST: <c>(false, null)</c> when accepted, else whether to retry and why not.</summary>
    private async Task<(bool Retry, string? Reason)> PostAsync(byte[] body)
    {
        using var deadline = new CancellationTokenSource(_options.Timeout, _options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, _stopping.Token);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = Json;
        try
        {
            using var response = await _client.PostAsync(_url, content, linked.Token);
            if (response.IsSuccessStatusCode)
            {
                return (false, null);
            }

            var status = response.StatusCode;
            // RFC 9110 15.5.9 and 15.6: a timeout, throttling or a server error may pass; any other answer will not.
            var retry = status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;
            return (retry, $"HTTP {(int)status} {response.ReasonPhrase}");
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !_stopping.IsCancellationRequested)
        {
            return (true, $"no answer within {_options.Timeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException ex)
        {
            return (true, ex.Message);
        }
    }
}
