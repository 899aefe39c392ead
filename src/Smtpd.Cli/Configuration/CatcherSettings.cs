using System.Net;
using System.Text.RegularExpressions;

namespace Smtpd.Cli.Configuration;

/// <summary>One listener the catcher opens.</summary>
/// <param name="EndPoint">Where.</param>
/// <param name="ImplicitTls">Whether it is an <c>--smtps</c> listener.</param>
/// <param name="Label">The flag it came from, for errors.</param>
internal sealed record ListenerSetting(IPEndPoint EndPoint, bool ImplicitTls, string Label);

/// <summary>Every catcher setting, parsed and checked; building it is where bad values are found.</summary>
internal sealed class CatcherSettings
{
    /// <summary>The default listener.</summary>
    public static readonly IPEndPoint DefaultEndPoint = new(IPAddress.Loopback, 2525);

    /// <summary>How many messages the store keeps by default: a day of heavy testing, a few hundred MB at most.</summary>
    public const int DefaultRetain = 10_000;

    /// <summary>The default HTTP listener: Mailpit's port, so settings written for Mailpit carry over; loopback only.</summary>
    public static readonly IPEndPoint DefaultHttpEndPoint = new(IPAddress.Loopback, 8025);

    /// <summary>How long a shutdown waits for transfers in flight before it answers 421 and closes them.</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    public required IReadOnlyList<ListenerSetting> Listeners { get; init; }

    /// <summary>
    /// <c>--proxy-protocol</c>: whether every SMTP listener (plain and implicit TLS) requires a PROXY protocol header
    /// from one of <see cref="TrustedProxies"/> (<see cref="SmtpListener.ProxyProtocol"/>).
    /// </summary>
    public bool ProxyProtocol { get; init; }

    /// <summary><c>--trusted-proxy</c>: the networks allowed to send the PROXY header (<see cref="SmtpListener.TrustedProxies"/>).</summary>
    public IReadOnlyList<IPNetwork> TrustedProxies { get; init; } = [];

    public string? Hostname { get; init; }

    public long? MaxSize { get; init; }

    public int? MaxRecipients { get; init; }

    public int? MaxConnections { get; init; }

    public int? MaxConnectionsPerIp { get; init; }

    /// <summary>Whether loopback clients are held to the per-IP cap too (the catcher exempts them by default).</summary>
    public bool CapLoopback { get; init; }

    public TimeSpan? Timeout { get; init; }

    /// <summary>The policy for bare CR and LF, when given; the catcher's default is <see cref="BareLineEndingPolicy.Normalize"/>.</summary>
    public BareLineEndingPolicy? BareLineEndings { get; init; }

    public IReadOnlyList<IPNetwork> RejectHosts { get; init; } = [];

    public IReadOnlyList<Regex> AllowSenders { get; init; } = [];

    public IReadOnlyList<Regex> RejectSenders { get; init; } = [];

    public IReadOnlyList<Regex> AllowRecipients { get; init; } = [];

    public IReadOnlyList<Regex> RejectRecipients { get; init; } = [];

    public string? TlsCert { get; init; }

    public string? TlsKey { get; init; }

    public bool TlsSelfSigned { get; init; }

    public bool RequireTls { get; init; }

    public IReadOnlyDictionary<string, string> AuthUsers { get; init; } = new Dictionary<string, string>();

    public bool AuthAny { get; init; }

    public bool RequireAuth { get; init; }

    /// <summary>
    /// Whether DSN is not offered. The catcher offers it by default, unlike the library: an application under test
    /// that asks for notifications wants to see its RET, ENVID, NOTIFY and ORCPT recorded, and a catcher delivers
    /// nowhere, so there is no notification to promise.
    /// </summary>
    public bool NoDsn { get; init; }

    public required string DatabasePath { get; init; }

    /// <summary>The PostgreSQL store (an Npgsql connection string) when --db names one; the SQLite file otherwise.</summary>
    public string? DatabaseConnectionString { get; init; }

    public string? Maildir { get; init; }

    public bool NoStore { get; init; }

    public int Retain { get; init; } = DefaultRetain;

    /// <summary><c>--retain-age</c>: the oldest a stored message may be; <see langword="null"/> for any age.</summary>
    public TimeSpan? RetainAge { get; init; }

    /// <summary><c>--retain-size</c>: the most octets of messages stored; 0 for no limit.</summary>
    public long RetainSize { get; init; }

    /// <summary><c>--mailbox NAME=RULE</c>: the named mailboxes' rules, checked together (a mailbox with only keep: is refused).</summary>
    public IReadOnlyList<Smtpd.Catcher.Mailboxes.MailboxRule> Mailboxes { get; init; } = [];

    /// <summary>The HTTP API's listeners; empty with <c>--no-http</c>.</summary>
    public IReadOnlyList<IPEndPoint> HttpEndPoints { get; init; } = [];

    /// <summary>Where <see cref="HttpEndPoints"/> came from, for errors.</summary>
    public string HttpLabel { get; init; } = Flags.Http.Option;

    /// <summary>The prefix every HTTP route is under, such as <c>/mail</c> (no trailing slash); <see langword="null"/> for none.</summary>
    public string? BasePath { get; init; }

    /// <summary>Whether the HTTP API is served over HTTPS.</summary>
    public bool HttpTls { get; init; }

    /// <summary>Whether <c>/metrics</c> serves Prometheus metrics (<c>--metrics</c>).</summary>
    public bool Metrics { get; init; }

    /// <summary>Whether the link check may request private and reserved addresses (<c>--allow-internal-http-requests</c>).</summary>
    public bool AllowInternalHttpRequests { get; init; }

    /// <summary>Whether the chaos API answers: <c>--enable-chaos</c>, or any trigger or script.</summary>
    public bool EnableChaos { get; init; }

    /// <summary>The chaos triggers at start.</summary>
    public Smtpd.Catcher.Chaos.ChaosTriggers ChaosTriggers { get; init; } = Smtpd.Catcher.Chaos.ChaosTriggers.Off;

    /// <summary>The deterministic chaos scripts, checked.</summary>
    public IReadOnlyList<string> ChaosScripts { get; init; } = [];

    /// <summary>The seed of the chaos draws, or <see langword="null"/> for a random one.</summary>
    public int? ChaosSeed { get; init; }
    /// <summary>The HTTP security rules: login, trusted host names, CORS origins.</summary>
    public Smtpd.Catcher.Http.Security.CatcherHttpSecurityOptions HttpSecurity { get; init; } = new();

    public bool Json { get; init; }

    public bool Quiet { get; init; }

    public bool Verbose { get; init; }

    /// <summary>The POP3 listeners (<c>--pop3</c>); empty serves no POP3.</summary>
    public IReadOnlyList<IPEndPoint> Pop3EndPoints { get; init; } = [];

    /// <summary>The POP3 users (<c>--pop3-auth</c>); empty accepts anyone.</summary>
    public IReadOnlyDictionary<string, string> Pop3Users { get; init; } = new Dictionary<string, string>();
    /// <summary>Release, automatic relay and the webhook.</summary>
    public HookSettings Hooks { get; init; } = HookSettings.None;

    /// <summary>Whether AUTH is offered.</summary>
    public bool AuthEnabled => AuthAny || AuthUsers.Count > 0;

    /// <summary>Whether a certificate was asked for.</summary>
    public bool TlsEnabled => TlsCert is not null || TlsSelfSigned;

    /// <summary>Parses every flag from its sources.</summary>
    /// <param name="sources">The command line, environment and config file.</param>
    /// <returns>The settings.</returns>
    /// <exception cref="SettingException">A value is bad, or flags contradict each other.</exception>
    public static CatcherSettings Load(SettingSources sources)
    {
        var listeners = new List<ListenerSetting>();
        if (sources.Get(Flags.Listen) is { } listen)
        {
            listeners.AddRange(listen.Values.Select(v => new ListenerSetting(ValueParsers.ParseEndpoint(v, listen.Label), false, listen.Label)));
        }

        if (sources.Get(Flags.Smtps) is { } smtps)
        {
            listeners.AddRange(smtps.Values.Select(v => new ListenerSetting(ValueParsers.ParseEndpoint(v, smtps.Label), true, smtps.Label)));
        }

        if (listeners.Count == 0)
        {
            listeners.Add(new ListenerSetting(DefaultEndPoint, false, Flags.Listen.Option));
        }

        var auth = new Dictionary<string, string>(StringComparer.Ordinal);
        if (sources.Get(Flags.Auth) is { } authSetting)
        {
            foreach (var value in authSetting.Values)
            {
                var (user, password) = ValueParsers.ParseCredentials(value, authSetting.Label);
                auth[user] = password;
            }
        }

        var noHttp = sources.IsOn(Flags.NoHttp);
        var httpSetting = sources.Get(Flags.Http);
        IReadOnlyList<IPEndPoint> http = noHttp
            ? []
            : httpSetting is { } h ? [.. h.Values.Select(v => ValueParsers.ParseEndpoint(v, h.Label))] : [DefaultHttpEndPoint];

        var chaosTriggers = Smtpd.Catcher.Chaos.ChaosTriggers.Off;
        if (sources.Get(Flags.Chaos) is { } chaos)
        {
            foreach (var value in chaos.Values)
            {
                chaosTriggers = ValueParsers.ParseChaosTriggers(value, chaosTriggers, chaos.Label);
            }
        }

        var chaosScripts = List(sources, Flags.ChaosScript, ValueParsers.ParseChaosScript);

        var settings = new CatcherSettings
        {
            HttpEndPoints = http,
            HttpLabel = httpSetting?.Label ?? Flags.Http.Option,
            BasePath = Single(sources, Flags.BasePath, ValueParsers.ParseBasePath),
            HttpTls = sources.IsOn(Flags.HttpTls),
            HttpSecurity = HttpSecuritySettings.Load(sources),
            Listeners = listeners,
            ProxyProtocol = sources.IsOn(Flags.ProxyProtocol),
            TrustedProxies = List(sources, Flags.TrustedProxy, ValueParsers.ParseCidr),
            Hostname = Single(sources, Flags.Hostname, (v, l) => ValidateHostname(v, l)),
            MaxSize = Single(sources, Flags.MaxSize, (v, l) => (long?)ValueParsers.ParseSize(v, l)),
            // The ranges are the core's: its options validate each value, and the error names the flag.
            MaxRecipients = Single(sources, Flags.MaxRecipients, (v, l) => (int?)ValueParsers.CheckedByCore(ValueParsers.ParseInt(v, 0, int.MaxValue, l), v, static (o, n) => o.MaxRecipients = n, l)),
            MaxConnections = Single(sources, Flags.MaxConnections, (v, l) => (int?)ValueParsers.CheckedByCore(ValueParsers.ParseInt(v, 0, int.MaxValue, l), v, static (o, n) => o.MaxSessions = n, l)),
            MaxConnectionsPerIp = Single(sources, Flags.MaxConnectionsPerIp, (v, l) => (int?)ValueParsers.CheckedByCore(ValueParsers.ParseInt(v, 0, int.MaxValue, l), v, static (o, n) => o.MaxSessionsPerClient = n, l)),
            CapLoopback = sources.IsOn(Flags.CapLoopback),
            Timeout = Single(sources, Flags.Timeout, (v, l) => (TimeSpan?)ValueParsers.ParseDuration(v, l)),
            BareLineEndings = Single(sources, Flags.BareLineEndings, (v, l) => (BareLineEndingPolicy?)ValueParsers.ParseBareLineEndings(v, l)),
            RejectHosts = List(sources, Flags.RejectHost, ValueParsers.ParseCidr),
            AllowSenders = List(sources, Flags.AllowSender, ValueParsers.ParseRegex),
            RejectSenders = List(sources, Flags.RejectSender, ValueParsers.ParseRegex),
            AllowRecipients = List(sources, Flags.AllowRecipient, ValueParsers.ParseRegex),
            RejectRecipients = List(sources, Flags.RejectRecipient, ValueParsers.ParseRegex),
            TlsCert = sources.Get(Flags.TlsCert)?.Value,
            TlsKey = sources.Get(Flags.TlsKey)?.Value,
            TlsSelfSigned = sources.IsOn(Flags.TlsSelfSigned),
            RequireTls = sources.IsOn(Flags.RequireTls),
            AuthUsers = auth,
            AuthAny = sources.IsOn(Flags.AuthAny),
            RequireAuth = sources.IsOn(Flags.RequireAuth),
            NoDsn = sources.IsOn(Flags.NoDsn),
            DatabasePath = Path.GetFullPath(sources.Get(Flags.Db)?.Value is { Length: > 0 } db && !Smtpd.Catcher.Storage.Postgres.PostgresConnection.IsPostgres(db) ? db : DefaultPaths.Database),
            DatabaseConnectionString = PostgresDatabase(sources.Get(Flags.Db)),
            Maildir = sources.Get(Flags.Maildir)?.Value,
            NoStore = sources.IsOn(Flags.NoStore),
            Retain = Single(sources, Flags.Retain, (v, l) => (int?)ValueParsers.ParseInt(v, 0, int.MaxValue, l)) ?? DefaultRetain,
            EnableChaos = sources.IsOn(Flags.EnableChaos) || sources.Get(Flags.Chaos) is not null || chaosScripts.Length > 0,
            ChaosTriggers = chaosTriggers,
            ChaosScripts = chaosScripts,
            ChaosSeed = Single(sources, Flags.ChaosSeed, (v, l) => (int?)ValueParsers.ParseInt(v, 0, int.MaxValue, l)),
            RetainAge = Single(sources, Flags.RetainAge, ValueParsers.ParseRetainAge),
            RetainSize = Single(sources, Flags.RetainSize, (v, l) => (long?)ValueParsers.ParseRetainSize(v, l)) ?? 0,
            Json = sources.IsOn(Flags.Json),
            Quiet = sources.IsOn(Flags.Quiet),
            Verbose = sources.IsOn(Flags.Verbose),
            Pop3EndPoints = List(sources, Flags.Pop3, ValueParsers.ParseEndpoint),
            Pop3Users = Credentials(sources, Flags.Pop3Auth),
            Hooks = HookSettings.Load(sources),
            Metrics = sources.IsOn(Flags.Metrics),
            AllowInternalHttpRequests = sources.IsOn(Flags.AllowInternalHttpRequests),
            Mailboxes = MailboxRules(sources),
        };

        settings.CheckCombinations();
        return settings;
    }

    private void CheckCombinations()
    {
        if (TlsKey is not null && TlsCert is null)
        {
            throw new SettingException(Flags.TlsKey.Option, "needs --tls-cert");
        }

        if (TlsCert is not null && TlsSelfSigned)
        {
            throw new SettingException(Flags.TlsSelfSigned.Option, "cannot be combined with --tls-cert");
        }

        if (RequireTls && !TlsEnabled)
        {
            throw new SettingException(Flags.RequireTls.Option, "needs a certificate: add --tls-cert or --tls-self-signed");
        }

        if (Listeners.Any(l => l.ImplicitTls) && !TlsEnabled)
        {
            throw new SettingException(Flags.Smtps.Option, "needs a certificate: add --tls-cert or --tls-self-signed");
        }

        if (HttpTls && !TlsEnabled)
        {
            throw new SettingException(Flags.HttpTls.Option, "needs a certificate: add --tls-cert or --tls-self-signed");
        }

        // Both are asked for explicitly: a trust list alone must not silently turn on a header that direct clients
        // cannot send, and a PROXY listener without one would let any peer claim any address (the library refuses
        // it at start; this names the flag instead).
        if (ProxyProtocol && TrustedProxies.Count == 0)
        {
            throw new SettingException(Flags.ProxyProtocol.Option, "needs --trusted-proxy CIDR: the proxies (such as HAProxy's address) allowed to name the client");
        }

        if (TrustedProxies.Count > 0 && !ProxyProtocol)
        {
            throw new SettingException(Flags.TrustedProxy.Option, "needs --proxy-protocol");
        }

        if (Metrics && HttpEndPoints.Count == 0)
        {
            throw new SettingException(Flags.Metrics.Option, "is served on the HTTP API: it cannot be combined with --no-http");
        }

        if (RequireAuth && !AuthEnabled)
        {
            throw new SettingException(Flags.RequireAuth.Option, "needs --auth USER:PASS or --auth-any");
        }

        Hooks.CheckCombinations(NoStore);

        if (Quiet && Verbose)
        {
            throw new SettingException(Flags.Quiet.Option, "cannot be combined with --verbose");
        }

        if (Pop3Users.Count > 0 && Pop3EndPoints.Count == 0)
        {
            throw new SettingException(Flags.Pop3Auth.Option, "needs --pop3 ADDR:PORT");
        }

        if (Pop3EndPoints.Count > 0 && NoStore)
        {
            throw new SettingException(Flags.Pop3.Option, "serves the store: it cannot be combined with --no-store");
        }
    }

    private static Smtpd.Catcher.Mailboxes.MailboxRule[] MailboxRules(SettingSources sources)
    {
        var rules = List(sources, Flags.Mailbox, static (value, label) =>
        {
            try
            {
                return Smtpd.Catcher.Mailboxes.MailboxRule.Parse(value);
            }
            catch (FormatException ex)
            {
                throw new SettingException(label, ex.Message);
            }
        });
        try
        {
            // The same checks the catcher makes at start, made here so the error names the flag and exits 2.
            _ = Smtpd.Catcher.Mailboxes.MailboxRouter.Create(rules);
        }
        catch (FormatException ex)
        {
            throw new SettingException(Flags.Mailbox.Option, ex.Message);
        }

        return rules;
    }

    private static string ValidateHostname(string value, string label)
    {
        if (value.Length == 0 || value.Any(c => c <= ' ' || c == 0x7f))
        {
            throw new SettingException(label, $"'{value}' is not a host name: one word, no spaces or control characters");
        }

        return value;
    }

    private static Dictionary<string, string> Credentials(SettingSources sources, Flag flag)
    {
        var credentials = new Dictionary<string, string>(StringComparer.Ordinal);
        if (sources.Get(flag) is { } setting)
        {
            foreach (var value in setting.Values)
            {
                var (user, password) = ValueParsers.ParseCredentials(value, setting.Label);
                credentials[user] = password;
            }
        }

        return credentials;
    }

    private static T? Single<T>(SettingSources sources, Flag flag, Func<string, string, T?> parse) =>
        sources.Get(flag) is { } setting ? parse(setting.Value, setting.Label) : default;

    private static T[] List<T>(SettingSources sources, Flag flag, Func<string, string, T> parse) =>
        sources.Get(flag) is { } setting ? setting.Values.Select(v => parse(v, setting.Label)).ToArray() : [];

    /// <summary>The --db value as a PostgreSQL connection string when it names PostgreSQL (a postgres:// URL or Host=…), else null.</summary>
    private static string? PostgresDatabase(Setting? db)
    {
        if (db is null || db.Value is not string value || !Smtpd.Catcher.Storage.Postgres.PostgresConnection.IsPostgres(value))
        {
            return null;
        }

        try
        {
            return Smtpd.Catcher.Storage.Postgres.PostgresConnection.Normalize(value);
        }
        catch (ArgumentException ex)
        {
            throw new SettingException(db.Label, ex.Message.Split(" (Parameter")[0]);
        }
    }
}
