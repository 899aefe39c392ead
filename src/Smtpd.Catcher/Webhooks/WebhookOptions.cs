namespace Smtpd.Catcher.Webhooks;

/// <summary>
/// The webhook: for every new message the catcher POSTs its summary JSON (a list entry of <c>/api/v1/messages</c>)
/// to <see cref="Url"/>, from a bounded queue, with retries and exponential backoff. SMTP never waits on it.
/// </summary>
public sealed class WebhookOptions
{
    /// <summary>How many summaries may wait by default: 1000, a burst of a load test while the receiver is slow,
    /// about a megabyte of JSON at most.</summary>
    public const int DefaultQueueCapacity = 1000;

    /// <summary>How many times one summary is POSTed at most by default: 5, about half a minute of backoff in all.</summary>
    public const int DefaultMaxAttempts = 5;

    /// <summary>The wait before the first retry by default: 1 second, doubled after each failure.</summary>
    public static readonly TimeSpan DefaultInitialBackoff = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between two attempts by default: 30 seconds, so a receiver back up is served soon.</summary>
    public static readonly TimeSpan DefaultMaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>How long one POST may take by default: 10 seconds; a hanging receiver then costs a retry, not the queue.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The URL POSTed to, <c>http</c> or <c>https</c>; <see langword="null"/> (the default) sends nothing.</summary>
    /// <exception cref="ArgumentException">Not an absolute http or https URL.</exception>
    public Uri? Url
    {
        get;
        set => field = value is null || (value.IsAbsoluteUri && (value.Scheme == Uri.UriSchemeHttp || value.Scheme == Uri.UriSchemeHttps))
            ? value
            : throw new ArgumentException($"'{value}' is not an absolute http:// or https:// URL.", nameof(Url));
    }

    /// <summary>Whether the webhook is on: <see cref="Url"/> is set.</summary>
    public bool Enabled => Url is not null;

    /// <summary>How many summaries may wait; past it a new message's summary is dropped, logged and counted. Default <see cref="DefaultQueueCapacity"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not between 1 and 1,000,000.</exception>
    public int QueueCapacity
    {
        get;
        set => field = value is >= 1 and <= 1_000_000
            ? value
            : throw new ArgumentOutOfRangeException(nameof(QueueCapacity), value, "QueueCapacity must be between 1 and 1000000.");
    } = DefaultQueueCapacity;

    /// <summary>
    /// How many times one summary is POSTed at most; a network error, a timeout, 408, 429 or a 5xx answer is tried
    /// again, any other answer is final. Default <see cref="DefaultMaxAttempts"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not between 1 and 100.</exception>
    public int MaxAttempts
    {
        get;
        set => field = value is >= 1 and <= 100
            ? value
            : throw new ArgumentOutOfRangeException(nameof(MaxAttempts), value, "MaxAttempts must be between 1 and 100.");
    } = DefaultMaxAttempts;

    /// <summary>The wait before the first retry; each further retry waits twice as long, up to <see cref="MaxBackoff"/>. Default <see cref="DefaultInitialBackoff"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not between 1 millisecond and 1 hour.</exception>
    public TimeSpan InitialBackoff
    {
        get;
        set => field = InRange(value, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1), nameof(InitialBackoff));
    } = DefaultInitialBackoff;

    /// <summary>The longest wait between two attempts. Default <see cref="DefaultMaxBackoff"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not between 1 millisecond and 1 hour.</exception>
    public TimeSpan MaxBackoff
    {
        get;
        set => field = InRange(value, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1), nameof(MaxBackoff));
    } = DefaultMaxBackoff;

    /// <summary>How long one POST may take. Default <see cref="DefaultTimeout"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not between 100 milliseconds and 10 minutes.</exception>
    public TimeSpan Timeout
    {
        get;
        set => field = InRange(value, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10), nameof(Timeout));
    } = DefaultTimeout;

    /// <summary>The clock of the backoff waits; tests give a fake one. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>The wait after failed attempt <paramref name="attempt"/> (1-based): the initial backoff doubled per attempt, capped.</summary>
    /// <param name="attempt">The attempt that failed.</param>
    /// <returns>The wait.</returns>
    internal TimeSpan Backoff(int attempt)
    {
        var factor = Math.Pow(2, Math.Min(attempt - 1, 30));
        var wait = InitialBackoff.TotalMilliseconds * factor;
        return TimeSpan.FromMilliseconds(Math.Min(wait, MaxBackoff.TotalMilliseconds));
    }

    private static TimeSpan InRange(TimeSpan value, TimeSpan min, TimeSpan max, string name) =>
        value >= min && value <= max ? value : throw new ArgumentOutOfRangeException(name, value, $"{name} must be between {min} and {max}.");
}
