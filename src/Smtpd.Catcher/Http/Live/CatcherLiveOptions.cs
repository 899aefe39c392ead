namespace Smtpd.Catcher.Http.Live;

/// <summary>
/// The limits of the catcher's live HTTP side: the event hub, the WebSocket <c>/api/events</c>, the Server-Sent
/// Events stream <c>/api/v1/events</c> and the blocking <c>/api/v1/wait</c>. Every limit has a default with its
/// reason; every setter refuses a value out of range.
/// </summary>
public sealed class CatcherLiveOptions
{
    /// <summary>Default of <see cref="MaxSubscribers"/>.</summary>
    public const int DefaultMaxSubscribers = 100;

    /// <summary>Default of <see cref="SubscriberQueueCapacity"/>.</summary>
    public const int DefaultSubscriberQueueCapacity = 256;

    /// <summary>Default of <see cref="ReplayCapacity"/>.</summary>
    public const int DefaultReplayCapacity = 256;

    /// <summary>Default of <see cref="MaxWaits"/>.</summary>
    public const int DefaultMaxWaits = 100;

    /// <summary>Default of <see cref="MaxWaitCount"/>.</summary>
    public const int DefaultMaxWaitCount = 1000;

    /// <summary>Default of <see cref="DefaultWaitTimeout"/>, the timeout of a wait that names none.</summary>
    public static readonly TimeSpan DefaultWaitTimeoutValue = TimeSpan.FromSeconds(30);

    /// <summary>Default of <see cref="MaxWaitTimeout"/>.</summary>
    public static readonly TimeSpan DefaultMaxWaitTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Default of <see cref="KeepAliveInterval"/>.</summary>
    public static readonly TimeSpan DefaultKeepAliveInterval = TimeSpan.FromSeconds(30);

    /// <summary>Default of <see cref="StatsInterval"/>.</summary>
    public static readonly TimeSpan DefaultStatsInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How many WebSocket and SSE clients may listen at once; one more gets <c>503</c>. Default 100: the browser
    /// inbox opens one per tab and a test suite a few, and 100 bounds the memory queued for slow clients at
    /// 100 × <see cref="SubscriberQueueCapacity"/> events.
    /// </summary>
    public int MaxSubscribers
    {
        get;
        set => field = value is >= 1 and <= 100_000 ? value : throw new ArgumentOutOfRangeException(nameof(MaxSubscribers), value, "MaxSubscribers must be from 1 to 100000.");
    } = DefaultMaxSubscribers;

    /// <summary>
    /// How many events may wait for one client. A client that falls this far behind is dropped (its WebSocket is
    /// closed, its SSE stream ended) so it can never hold up SMTP ingest or the other clients. Default 256, the
    /// send buffer Mailpit gives each WebSocket client, so a client that keeps up with Mailpit keeps up here.
    /// </summary>
    public int SubscriberQueueCapacity
    {
        get;
        set => field = value is >= 1 and <= 1_000_000 ? value : throw new ArgumentOutOfRangeException(nameof(SubscriberQueueCapacity), value, "SubscriberQueueCapacity must be from 1 to 1000000.");
    } = DefaultSubscriberQueueCapacity;

    /// <summary>
    /// How many recent events the hub keeps so that an SSE client reconnecting with <c>Last-Event-ID</c> misses
    /// nothing; 0 keeps none. Default 256: the same depth as a client's queue, so a client dropped for falling
    /// behind can reconnect at once and resume where it stopped.
    /// </summary>
    public int ReplayCapacity
    {
        get;
        set => field = value is >= 0 and <= 1_000_000 ? value : throw new ArgumentOutOfRangeException(nameof(ReplayCapacity), value, "ReplayCapacity must be from 0 to 1000000.");
    } = DefaultReplayCapacity;

    /// <summary>
    /// How many <c>/api/v1/wait</c> requests may block at once; one more gets <c>503</c>. Default 100: a test
    /// suite runs one per parallel test, and each holds a connection and a hub subscription.
    /// </summary>
    public int MaxWaits
    {
        get;
        set => field = value is >= 1 and <= 100_000 ? value : throw new ArgumentOutOfRangeException(nameof(MaxWaits), value, "MaxWaits must be from 1 to 100000.");
    } = DefaultMaxWaits;

    /// <summary>
    /// The largest <c>count</c> a wait may ask for. Default 1000: the answer lists every message it waited for, and
    /// 1000 summaries (about 1 MB of JSON) is as much as one answer should carry.
    /// </summary>
    public int MaxWaitCount
    {
        get;
        set => field = value is >= 1 and <= 1_000_000 ? value : throw new ArgumentOutOfRangeException(nameof(MaxWaitCount), value, "MaxWaitCount must be from 1 to 1000000.");
    } = DefaultMaxWaitCount;

    /// <summary>The timeout of a wait without <c>timeout=</c>. Default 30 s, a common test-step timeout (Cypress and Playwright use seconds, not minutes).</summary>
    public TimeSpan DefaultWaitTimeout
    {
        get;
        set => field = value >= TimeSpan.Zero && value <= MaxWaitTimeout ? value : throw new ArgumentOutOfRangeException(nameof(DefaultWaitTimeout), value, "DefaultWaitTimeout must be from 0 to MaxWaitTimeout.");
    } = DefaultWaitTimeoutValue;

    /// <summary>
    /// The longest <c>timeout=</c> a wait may ask for; a longer one gets <c>400</c>. Default 5 minutes: past that a
    /// test is hung rather than waiting, HttpClient gives up after 100 s by default and nginx's
    /// <c>proxy_read_timeout</c> after 60 s, and each wait holds a connection and a subscription until it answers.
    /// </summary>
    public TimeSpan MaxWaitTimeout
    {
        get;
        set => field = value > TimeSpan.Zero && value <= TimeSpan.FromHours(1) && value >= DefaultWaitTimeout ? value : throw new ArgumentOutOfRangeException(nameof(MaxWaitTimeout), value, "MaxWaitTimeout must be more than 0, at most one hour, and at least DefaultWaitTimeout.");
    } = DefaultMaxWaitTimeout;

    /// <summary>
    /// How often an idle stream is kept alive: a WebSocket ping (which the client must answer within two intervals
    /// or be closed) and an SSE comment line. Default 30 s: under the 60 s idle timeout of common proxies (nginx's
    /// <c>proxy_read_timeout</c>), and close to Mailpit's 54 s ping.
    /// </summary>
    public TimeSpan KeepAliveInterval
    {
        get;
        set => field = value >= TimeSpan.FromMilliseconds(100) && value <= TimeSpan.FromHours(1) ? value : throw new ArgumentOutOfRangeException(nameof(KeepAliveInterval), value, "KeepAliveInterval must be from 100 ms to one hour.");
    } = DefaultKeepAliveInterval;

    /// <summary>
    /// The least time between two <c>stats</c> events; changes in between are folded into one. Default 250 ms,
    /// Mailpit's rate (at most four a second), so a burst of mail does not turn into a burst of counts.
    /// </summary>
    public TimeSpan StatsInterval
    {
        get;
        set => field = value >= TimeSpan.Zero && value <= TimeSpan.FromMinutes(1) ? value : throw new ArgumentOutOfRangeException(nameof(StatsInterval), value, "StatsInterval must be from 0 to one minute.");
    } = DefaultStatsInterval;
}
