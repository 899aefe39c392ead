namespace Smtpd.Cli.Configuration;

/// <summary>How a flag takes its value.</summary>
internal enum FlagKind
{
    /// <summary>One value; the last source with it wins.</summary>
    Single,

    /// <summary>Repeatable; in an environment variable, several values separated by commas.</summary>
    List,

    /// <summary>Repeatable, but an environment variable holds exactly one value (a regular expression or a password may contain commas).</summary>
    RegexList,

    /// <summary>A switch; in the environment or the config file <c>true</c>/<c>false</c> (also 1/0, yes/no, on/off).</summary>
    Switch,
}

/// <summary>One flag of the catcher: its name, how it is given, and where else it can come from.</summary>
/// <param name="Name">The long name without dashes; also the config file key.</param>
/// <param name="Kind">How it takes values.</param>
/// <param name="ValueName">The value's name in the help, or <see langword="null"/> for a switch.</param>
/// <param name="Description">The help text.</param>
internal sealed record Flag(string Name, FlagKind Kind, string? ValueName, string Description)
{
    /// <summary>The flag as typed: <c>--name</c>.</summary>
    public string Option => "--" + Name;

    /// <summary>The environment variable: <c>SMTPD_NAME</c> with dashes as underscores.</summary>
    public string EnvironmentVariable => "SMTPD_" + Name.Replace('-', '_').ToUpperInvariant();
}

/// <summary>Every flag of the catcher, in the order of the help and of docs/cli.md.</summary>
internal static class Flags
{
    public static readonly Flag Listen = new("listen", FlagKind.List, "ADDR:PORT", "Listen for SMTP on ADDR:PORT (repeatable; default 127.0.0.1:2525; port 0 picks a free one).");
    public static readonly Flag Smtps = new("smtps", FlagKind.List, "ADDR:PORT", "Listen for implicit-TLS SMTP (RFC 8314) on ADDR:PORT (repeatable; needs a certificate).");
    public static readonly Flag ProxyProtocol = new("proxy-protocol", FlagKind.Switch, null, "Require an HAProxy PROXY protocol header (v1 or v2) from a --trusted-proxy at the start of every SMTP connection (--listen and --smtps); the client it names is the one policies see and the store records.");
    public static readonly Flag TrustedProxy = new("trusted-proxy", FlagKind.List, "CIDR", "A proxy (a bare address) or network allowed to send the PROXY header (repeatable; needed with --proxy-protocol); connections from anywhere else are closed unanswered.");
    public static readonly Flag Hostname = new("hostname", FlagKind.Single, "NAME", "The name in the greeting and the EHLO reply (default: the machine's host name).");
    public static readonly Flag MaxSize = new("max-size", FlagKind.Single, "SIZE", "The largest message accepted, with an optional K, M or G suffix (default 35M).");
    public static readonly Flag MaxRecipients = new("max-recipients", FlagKind.Single, "N", "The most recipients per message (default 100).");
    public static readonly Flag MaxConnections = new("max-connections", FlagKind.Single, "N", "The most connections at once (default 1000).");
    public static readonly Flag MaxConnectionsPerIp = new("max-connections-per-ip", FlagKind.Single, "N", "The most connections at once from one IP address (default 50).");
    public static readonly Flag CapLoopback = new("cap-loopback", FlagKind.Switch, null, "Hold loopback clients to --max-connections-per-ip too; by default they are exempt, so a local load test is not refused.");
    public static readonly Flag Timeout = new("timeout", FlagKind.Single, "DURATION", "How long a client may stay silent, e.g. 30s, 5m (default 5m).");
    public static readonly Flag BareLineEndings = new("bare-line-endings", FlagKind.Single, "reject|normalize", "Lines ending in a bare LF or CR: normalize turns them into CRLF (the default); reject refuses the message with 550 5.6.0.");
    public static readonly Flag RejectHost = new("reject-host", FlagKind.List, "CIDR", "Refuse clients in CIDR with '550 Access denied' (repeatable).");
    public static readonly Flag AllowSender = new("allow-sender", FlagKind.RegexList, "REGEX", "Accept only senders matching REGEX (repeatable; case-insensitive; <> is the empty string).");
    public static readonly Flag RejectSender = new("reject-sender", FlagKind.RegexList, "REGEX", "Reject senders matching REGEX (repeatable).");
    public static readonly Flag AllowRecipient = new("allow-recipient", FlagKind.RegexList, "REGEX", "Accept only recipients matching REGEX (repeatable).");
    public static readonly Flag RejectRecipient = new("reject-recipient", FlagKind.RegexList, "REGEX", "Reject recipients matching REGEX (repeatable).");
    public static readonly Flag TlsCert = new("tls-cert", FlagKind.Single, "FILE", "TLS certificate: PEM (with --tls-key, or key in the same file) or PFX without a password; enables STARTTLS.");
    public static readonly Flag TlsKey = new("tls-key", FlagKind.Single, "FILE", "The PEM private key for --tls-cert.");
    public static readonly Flag TlsSelfSigned = new("tls-self-signed", FlagKind.Switch, null, "Use a self-signed certificate, made once and kept next to the store.");
    public static readonly Flag RequireTls = new("require-tls", FlagKind.Switch, null, "Refuse mail until the client uses STARTTLS (530 5.7.0).");
    public static readonly Flag Auth = new("auth", FlagKind.List, "USER:PASS", "Offer AUTH and accept this user and password (repeatable).");
    public static readonly Flag AuthAny = new("auth-any", FlagKind.Switch, null, "Offer AUTH and accept any credentials.");
    public static readonly Flag RequireAuth = new("require-auth", FlagKind.Switch, null, "Refuse mail until the client authenticates (530 5.7.0).");
    public static readonly Flag NoDsn = new("no-dsn", FlagKind.Switch, null, "Do not offer DSN (RFC 3461): RET, ENVID, NOTIFY and ORCPT get 555 instead of being recorded.");
    public static readonly Flag Db = new("db", FlagKind.Single, "PATH|URL", "The SQLite store (default: " + DefaultPaths.DatabaseDisplay + "), or a PostgreSQL one: postgres://user:pass@host:port/db or \"Host=…;Database=…\" (several catchers may share it).");
    public static readonly Flag Maildir = new("maildir", FlagKind.Single, "DIR", "Also write every message to the Maildir DIR (tmp, fsync, rename into new).");
    public static readonly Flag NoStore = new("no-store", FlagKind.Switch, null, "Keep nothing in the SQLite store: a sink (with --maildir, only Maildir files).");
    public static readonly Flag Retain = new("retain", FlagKind.Single, "N", "Keep the newest N messages in the store; 0 keeps all (default 10000).");
    public static readonly Flag RetainAge = new("retain-age", FlagKind.Single, "DURATION", "Delete stored messages older than DURATION, oldest first, e.g. 7d, 12h, 30m (at least 1m); 0 keeps any age (default).");
    public static readonly Flag RetainSize = new("retain-size", FlagKind.Single, "SIZE", "Keep at most SIZE of messages in the store, deleting the oldest, e.g. 2G, 500M; 0 sets no limit (default).");
    public static readonly Flag Mailbox = new("mailbox", FlagKind.List, "NAME=RULE", "Route messages to the named mailbox NAME by RULE: to:ADDRESS, to:@DOMAIN (envelope recipients, Bcc included), user:NAME (AUTH), port:N (listener), or keep:N (the mailbox keeps its newest N) (repeatable).");
    public static readonly Flag Http = new("http", FlagKind.List, "ADDR:PORT", "Serve the HTTP API (Mailpit's API v1) on ADDR:PORT (repeatable; default 127.0.0.1:8025, Mailpit's; port 0 picks a free one).");
    public static readonly Flag NoHttp = new("no-http", FlagKind.Switch, null, "Serve no HTTP API.");
    public static readonly Flag BasePath = new("base-path", FlagKind.Single, "PATH", "Serve the HTTP API under PATH, e.g. /mail/ behind a reverse proxy (default /).");
    public static readonly Flag HttpTls = new("http-tls", FlagKind.Switch, null, "Serve the HTTP API over HTTPS with the --tls-cert or --tls-self-signed certificate.");
    public static readonly Flag EnableChaos = new("enable-chaos", FlagKind.Switch, null, "Serve the chaos API (GET/PUT /api/v1/chaos, Mailpit's), to make SMTP fail on purpose at run time.");
    public static readonly Flag Chaos = new("chaos", FlagKind.List, "KEY:CODE:PERCENT", "Fail MAIL (sender), RCPT (recipient) or AUTH (authentication) with CODE, PERCENT of the time, e.g. recipient:451:20 (repeatable or comma-separated, Mailpit's --chaos-triggers; enables the chaos API).");
    public static readonly Flag ChaosScript = new("chaos-script", FlagKind.List, "SCRIPT", "Fail deterministically: POINT ACTION [xN|always] [after N], e.g. 'rcpt 452 x2' (repeatable; enables the chaos API).");
    public static readonly Flag ChaosSeed = new("chaos-seed", FlagKind.Single, "N", "The seed of the chaos draws, to replay a run (default: random, shown at start).");
    public static readonly Flag UiAuth = new("ui-auth", FlagKind.RegexList, "USER:PASS", "Require HTTP Basic login for the HTTP API and inbox with this user and password (repeatable; SMTPD_UI_AUTH takes a space-separated list, as Mailpit's MP_UI_AUTH).");
    public static readonly Flag UiAuthFile = new("ui-auth-file", FlagKind.Single, "FILE", "Require HTTP Basic login with the users of an htpasswd FILE of bcrypt hashes (htpasswd -B).");
    public static readonly Flag HttpHost = new("http-host", FlagKind.List, "NAME", "Also accept requests whose Host is NAME (repeatable), e.g. a reverse proxy's or a Compose service's name; others get 403 (DNS rebinding).");
    public static readonly Flag ApiCors = new("api-cors", FlagKind.List, "ORIGIN", "Let pages of ORIGIN (scheme://host[:port], or *) call the HTTP API from a browser (repeatable); CORS is off by default.");
    public static readonly Flag AllowInternalHttpRequests = new("allow-internal-http-requests", FlagKind.Switch, null, "Let the link check (GET /api/v1/message/ID/link-check) request links to loopback, private and other reserved addresses; they are refused with status 451 by default (Mailpit's flag).");
    public static readonly Flag Json = new("json", FlagKind.Switch, null, "Print one JSON event per line on stdout, and nothing else.");
    public static readonly Flag Quiet = new("quiet", FlagKind.Switch, null, "Print nothing but errors.");
    public static readonly Flag Verbose = new("verbose", FlagKind.Switch, null, "Print SMTP transcripts on stderr, with secrets masked.");
    public static readonly Flag Relay = new("relay", FlagKind.Single, "smtp[s]://[USER:PASS@]HOST[:PORT]", "Relay released messages through this server: smtp:// (port 25, STARTTLS when offered) or smtps:// (port 465, implicit TLS).");
    public static readonly Flag RelayAuth = new("relay-auth", FlagKind.Single, "USER:PASS", "AUTH to the relay server with this user and password (instead of putting them in the --relay URL).");
    public static readonly Flag RelaySender = new("relay-sender", FlagKind.Single, "ADDRESS", "The MAIL FROM of relayed messages (default: each message's own MAIL FROM).");
    public static readonly Flag RelayAllow = new("relay-allow", FlagKind.Single, "REGEX", "Relay only to recipients matching REGEX (case-insensitive); others are refused with 400.");
    public static readonly Flag RelayMatching = new("relay-matching", FlagKind.Single, "REGEX", "Relay every stored message to its recipients matching REGEX, on its own, after its 250.");
    public static readonly Flag RelayStartTls = new("relay-starttls", FlagKind.Switch, null, "Refuse to relay over smtp:// when the server does not offer STARTTLS.");
    public static readonly Flag RelayInsecure = new("relay-insecure", FlagKind.Switch, null, "Accept a relay server certificate this machine does not trust (self-signed, wrong name).");
    public static readonly Flag WebhookUrl = new("webhook-url", FlagKind.Single, "URL", "POST each new message's summary JSON to URL (bounded queue of 1000, 5 attempts with backoff; never delays SMTP).");
    public static readonly Flag Metrics = new("metrics", FlagKind.Switch, null, "Serve Prometheus metrics at GET /metrics on the HTTP API (text format 0.0.4; behind --ui-auth like the API): connections, accepted, rejected and bytes per listener, store size, queue depths.");
    public static readonly Flag Config = new("config", FlagKind.Single, "FILE", "Read settings from FILE (default: " + DefaultPaths.ConfigDisplay + " if it exists).");
    public static readonly Flag Pop3 = new("pop3", FlagKind.List, "ADDR:PORT", "Serve the store over POP3 (RFC 1939, with UIDL, TOP, STLS and AUTH PLAIN) on ADDR:PORT (repeatable; port 0 picks a free one; off by default).");
    public static readonly Flag Pop3Auth = new("pop3-auth", FlagKind.List, "USER:PASS", "Accept this POP3 user and password (repeatable; without it, POP3 accepts any user and password).");

    /// <summary>The catcher's flags.</summary>
    public static readonly IReadOnlyList<Flag> Catcher =
    [
        Listen, Smtps, ProxyProtocol, TrustedProxy, Hostname, MaxSize, MaxRecipients, MaxConnections, MaxConnectionsPerIp, CapLoopback, Timeout,
        BareLineEndings, RejectHost, AllowSender, RejectSender, AllowRecipient, RejectRecipient,
        TlsCert, TlsKey, TlsSelfSigned, RequireTls, Auth, AuthAny, RequireAuth, NoDsn,
        Db, Maildir, NoStore, Retain, RetainAge, RetainSize, Mailbox, Http, NoHttp, BasePath, HttpTls, UiAuth, UiAuthFile, HttpHost, ApiCors,
        AllowInternalHttpRequests,
        EnableChaos, Chaos, ChaosScript, ChaosSeed,
        Pop3, Pop3Auth,
        Relay, RelayAuth, RelaySender, RelayAllow, RelayMatching, RelayStartTls, RelayInsecure, WebhookUrl,
        Metrics,
        Json, Quiet, Verbose, Config,
    ];
}
