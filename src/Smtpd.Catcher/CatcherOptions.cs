using System.Net;
using System.Text.RegularExpressions;
using Smtpd.Catcher.Chaos;

namespace Smtpd.Catcher;

/// <summary>
/// Everything a <see cref="MailCatcher"/> needs: the SMTP server's own options, the listeners, the policies and the
/// store. The smtpd tool builds one from its flags; an application or a test builds one in code.
/// </summary>
public sealed class CatcherOptions
{
    /// <summary>The catcher's default listener, <c>127.0.0.1:2525</c>: loopback only, and a port that needs no privileges.</summary>
    public static readonly IPEndPoint DefaultEndPoint = new(IPAddress.Loopback, 2525);

    /// <summary>How many messages the store keeps by default: a day of heavy testing, a few hundred MB at most.</summary>
    public const int DefaultRetain = 10_000;

    /// <summary>
    /// The SMTP server's options: limits, timeouts, TLS certificate, <c>RequireTls</c>, <c>RequireAuth</c>, DSN. The
    /// catcher sets the callbacks itself (<c>Deliver</c> and, when a policy asks for them, <c>ValidateHost</c>,
    /// <c>ValidateSender</c>, <c>ValidateRecipient</c> and <c>Authenticate</c>), so those set here are replaced. The
    /// defaults differ from the library's where a local catcher needs it: AUTH works without TLS (test applications
    /// send plaintext AUTH), DSN is offered (an application that asks for notifications wants its parameters
    /// recorded; a catcher delivers nowhere, so there is nothing to promise), the banner names the catcher, loopback
    /// clients are exempt from <c>MaxSessionsPerClient</c> (<see cref="LoopbackNetworks"/>: a local load test comes
    /// from one address; <c>MaxSessions</c> still applies), and bare line endings are normalized rather than refused
    /// (<c>BareLineEndingPolicy.Normalize</c>: Python's <c>smtplib.sendmail(..., message.as_bytes())</c> sends lines
    /// ending in LF, and an application under test should see its mail caught, not refused).
    /// </summary>
    public SmtpServerOptions Smtp { get; } = new()
    {
        AllowInsecureAuth = true,
        EnableDsn = true,
        Banner = "ESMTP smtpd mail catcher ready",
        MaxSessionsPerClientExemptions = LoopbackNetworks,
        BareLineEndings = BareLineEndingPolicy.Normalize,
    };

    /// <summary>The loopback networks, <c>127.0.0.0/8</c> and <c>::1/128</c>, that the catcher exempts from the per-client cap.</summary>
    public static IReadOnlyList<IPNetwork> LoopbackNetworks { get; } = [new(IPAddress.Loopback, 8), new(IPAddress.IPv6Loopback, 128)];

    /// <summary>The SMTP listeners; when empty, <see cref="DefaultEndPoint"/>.</summary>
    public IList<SmtpListener> Listeners { get; } = [];

    /// <summary>Clients in these networks get the Tcl <c>validate_host</c> refusal, <c>550 Access denied</c>.</summary>
    public IList<IPNetwork> RejectHosts { get; } = [];

    /// <summary>When not empty, a sender must match one of these patterns (<c>550 5.7.1</c> otherwise).</summary>
    public IList<Regex> AllowSenders { get; } = [];

    /// <summary>A sender that matches one of these patterns is refused with <c>550 5.7.1</c>.</summary>
    public IList<Regex> RejectSenders { get; } = [];

    /// <summary>When not empty, a recipient must match one of these patterns (<c>550 5.7.1</c> otherwise).</summary>
    public IList<Regex> AllowRecipients { get; } = [];

    /// <summary>A recipient that matches one of these patterns is refused with <c>550 5.7.1</c>.</summary>
    public IList<Regex> RejectRecipients { get; } = [];

    /// <summary>Users and passwords that AUTH accepts. AUTH is offered when this is not empty or <see cref="AuthAny"/> is set.</summary>
    public IDictionary<string, string> AuthUsers { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Whether AUTH accepts any user and password.</summary>
    public bool AuthAny { get; set; }

    /// <summary>Whether AUTH is offered.</summary>
    public bool AuthEnabled => AuthAny || AuthUsers.Count > 0;

    /// <summary>
    /// The SQLite store. Every message is committed to it, and the commit's write-ahead log synced to disk (what
    /// <c>synchronous=FULL</c> gives, with the sync pipelined behind the next commit), before its <c>250</c>;
    /// <see langword="null"/> stores nothing (a sink).
    /// </summary>
    public string? DatabasePath { get; set; }

    /// <summary>
    /// A PostgreSQL store instead of the SQLite file: an Npgsql connection string (<c>Host=…;Database=…</c>) or a
    /// <c>postgres://user:pass@host:port/db</c> URL. When set, it wins over <see cref="DatabasePath"/>; several
    /// catchers may share one database (docs/scaling.md). <see langword="null"/> (the default) keeps the SQLite store,
    /// which needs no server. Validated when set: a value that is neither form throws <see cref="ArgumentException"/>.
    /// </summary>
    public string? DatabaseConnectionString
    {
        get;
        set => field = value is null ? null : Storage.Postgres.PostgresConnection.Normalize(value);
    }

    /// <summary>How many messages the store keeps, newest first; 0 keeps all. Default <see cref="DefaultRetain"/>.</summary>
    public int Retain
    {
        get;
        set => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(Retain), value, "Retain must be 0 (keep all) or more.");
    } = DefaultRetain;

    /// <summary>
    /// The oldest a stored message may be, by when it was received; older ones are pruned, oldest first, as messages
    /// arrive and once a minute. <see langword="null"/> (the default) keeps messages of any age, as Mailpit does
    /// without <c>--max-age</c>: a catcher's store is usually short-lived, and <see cref="Retain"/> already bounds it.
    /// At least one minute (the check runs once a minute, so a shorter age could not be honoured).
    /// </summary>
    public TimeSpan? RetainAge
    {
        get;
        set => field = value is null || value.Value >= MinimumRetainAge
            ? value
            : throw new ArgumentOutOfRangeException(nameof(RetainAge), value, "RetainAge must be at least one minute, or null to keep messages of any age.");
    }

    /// <summary>The shortest <see cref="RetainAge"/>: the interval at which the store looks for messages to age out.</summary>
    public static readonly TimeSpan MinimumRetainAge = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The most octets of messages (their raw size, as received) the store keeps; the oldest are pruned beyond it.
    /// 0 (the default) sets no limit, since <see cref="Retain"/> already bounds the store at <see cref="DefaultRetain"/>
    /// messages of at most the SMTP size limit each. Index overhead is not counted, so the file is somewhat larger.
    /// </summary>
    public long RetainSize
    {
        get;
        set => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(RetainSize), value, "RetainSize must be 0 (no limit) or more.");
    }

    /// <summary>
    /// Named mailboxes (one per developer, tenant or test): each message is routed, once, when it is stored, to every
    /// mailbox one of whose rules it matches, by envelope recipient or domain, AUTH user or listener port, and is still
    /// stored once. The HTTP API, the live events and the store commands take <c>?mailbox=NAME</c> (<c>--mailbox</c>)
    /// to see one mailbox; without it they see every message, as Mailpit does. A <c>keep:N</c> rule bounds a mailbox.
    /// Empty (the default): no named mailboxes. Checked at <see cref="MailCatcher.Start"/>.
    /// </summary>
    public IList<Mailboxes.MailboxRule> Mailboxes { get; } = [];

    /// <summary>The limits of the HTTP API that <c>MapSmtpdCatcher</c> serves.</summary>
    public Http.CatcherHttpOptions Http { get; } = new();

    /// <summary>Failing on purpose: Mailpit's chaos triggers and deterministic fault scripts.</summary>
    public CatcherChaosOptions Chaos { get; } = new();
    /// <summary>The limits of the live events: WebSocket and SSE subscribers, waits, replay and keep-alive.</summary>
    public Http.Live.CatcherLiveOptions Live { get; } = new();

    /// <summary>A Maildir to write every message to as well (tmp, fsync, rename into new), or <see langword="null"/>.</summary>
    public string? Maildir { get; set; }

    /// <summary>
    /// POP3 access to the store (RFC 1939 with UIDL, TOP, STLS and AUTH PLAIN): off until it has an endpoint. Needs
    /// <see cref="DatabasePath"/>; STLS uses the certificate of <see cref="Smtp"/>.
    /// </summary>
    public Pop3.Pop3Options Pop3 { get; } = new();
    /// <summary>Release and automatic relay of caught messages to a real SMTP server (off until <c>Relay.Server</c> is set).</summary>
    public Relay.RelayOptions Relay { get; } = new();

    /// <summary>The webhook POSTed for every new message (off until <c>Webhook.Url</c> is set).</summary>
    public Webhooks.WebhookOptions Webhook { get; } = new();

    /// <summary>
    /// Whether the catcher collects its metrics and <c>MapSmtpdCatcher</c> serves them at <c>GET /metrics</c> in the
    /// Prometheus text format 0.0.4 (docs/api.md): connections, accepted and rejected by listener, bytes, store size,
    /// queue depths. Off by default, as in Mailpit (<c>--enable-prometheus</c>): a scrape endpoint is one more thing
    /// exposed, and most catchers are never scraped. The route sits behind the same HTTP security as the API.
    /// </summary>
    public bool Metrics { get; set; }
}
