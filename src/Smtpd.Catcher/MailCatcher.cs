using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Smtpd.Catcher.Chaos;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher;

/// <summary>A setting of <see cref="CatcherOptions"/> turned out unusable when the catcher started.</summary>
public sealed class CatcherConfigurationException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="setting">The <see cref="CatcherOptions"/> property at fault.</param>
    /// <param name="message">What is wrong, in words a user can act on.</param>
    /// <param name="innerException">The underlying error.</param>
    public CatcherConfigurationException(string setting, string message, Exception? innerException = null)
        : base(message, innerException) => Setting = setting;

    /// <summary>The <see cref="CatcherOptions"/> property at fault, such as <c>DatabasePath</c>.</summary>
    public string Setting { get; }
}

/// <summary>
/// The catcher: an <see cref="SmtpServer"/> whose delivery callback stores each message (and writes it to a
/// Maildir) before it answers 250, with the policies, TLS and AUTH that <see cref="CatcherOptions"/> asks for.
/// </summary>
public sealed class MailCatcher : IAsyncDisposable
{
    /// <summary>
    /// The name of the <see cref="System.Diagnostics.Metrics.Meter"/> each catcher creates for its own instruments
    /// (messages stored, store size, queue depths; docs/api.md lists them), next to its SMTP server's
    /// <see cref="SmtpServer.MeterName"/> meter. <see cref="CatcherOptions.Metrics"/> serves both at <c>/metrics</c>.
    /// </summary>
    public const string MeterName = "Smtpd.Catcher";

    private readonly CatcherOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _time;
    private ICatcherStore? _store;
    private MaildirWriter? _maildir;
    private SmtpServer? _server;
    private Pop3.Pop3Server? _pop3;
    private Webhooks.CatcherHooks? _hooks;
    private long _acceptedCount;
    private long _acceptedSize;
    private long _rejectedCount;
    private long _deletedCount;
    private readonly Metrics.CatcherMetrics _metrics;
    private Metrics.PrometheusCollector? _collector;

    /// <summary>Creates a catcher; <see cref="Start"/> opens the store and the listeners.</summary>
    /// <param name="options">The options; read once, at <see cref="Start"/>.</param>
    /// <param name="loggerFactory">Where the SMTP server logs, or <see langword="null"/> for nowhere.</param>
    /// <exception cref="CatcherConfigurationException">A chaos script in <see cref="CatcherOptions.Chaos"/> is malformed.</exception>
    public MailCatcher(CatcherOptions options, ILoggerFactory? loggerFactory = null)
        : this(options, loggerFactory, TimeProvider.System)
    {
    }

    /// <summary>Creates a catcher whose retention by age reads <paramref name="time"/> (tests).</summary>
    /// <param name="options">The options.</param>
    /// <param name="loggerFactory">Where the SMTP server logs.</param>
    /// <param name="time">The clock.</param>
    internal MailCatcher(CatcherOptions options, ILoggerFactory? loggerFactory, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        Chaos = new CatcherChaos(options.Chaos);
        _time = time;
        _metrics = new Metrics.CatcherMetrics(this, () => _store?.QueueLength);
    }

    /// <summary>Failing on purpose: Mailpit's chaos triggers, and deterministic faults scripted from code or the API.</summary>
    public CatcherChaos Chaos { get; }

    /// <summary>Raised after a message is stored (after its commit, before its <c>250</c>), on the session's thread.</summary>
    internal event Action<string, MessageRecord>? MessageStored;

    /// <summary>
    /// Raised for every message that appears in the store: those this catcher stored (right after
    /// <see cref="MessageStored"/>) and those another instance stored in a shared PostgreSQL database. The live
    /// side (<c>/api/v1/wait</c>, WebSocket, SSE) subscribes to this; webhooks and relay to <see cref="MessageStored"/>.
    /// </summary>
    internal event Action<string, MessageRecord>? MessageArrived;

    /// <summary>
    /// Raised after retention (<see cref="CatcherOptions.Retain"/>, <see cref="CatcherOptions.RetainAge"/>,
    /// <see cref="CatcherOptions.RetainSize"/>) pruned messages from the store, after the commit, on a thread-pool
    /// thread. The same prune is published on <see cref="Events"/> as Mailpit's <c>prune</c> event.
    /// </summary>
    internal event Action<StorePruned>? MessagesPruned;

    /// <summary>Where this catcher's mailbox changes other than new messages are announced (the live events subscribe).</summary>
    internal Http.CatcherEventHub Events { get; } = new();

    /// <summary>The webhook and automatic relay queues, or <see langword="null"/> when neither is configured.</summary>
    internal Webhooks.CatcherHooks? Hooks => _hooks;

    /// <summary>What <c>/metrics</c> serves: this catcher's and its server's instruments, when <see cref="CatcherOptions.Metrics"/> is set and the catcher has started.</summary>
    internal Metrics.PrometheusCollector? MetricsCollector => _collector;
    /// <summary>The named mailboxes, from <see cref="CatcherOptions.Mailboxes"/>; set by <see cref="Start"/>.</summary>
    internal Mailboxes.MailboxRouter Mailboxes { get; private set; } = Catcher.Mailboxes.MailboxRouter.None;

    /// <summary>The options the catcher was made with.</summary>
    internal CatcherOptions Options => _options;

    /// <summary>When <see cref="Start"/> ran.</summary>
    internal DateTimeOffset StartedAt { get; private set; }

    /// <summary>How many messages were accepted since <see cref="Start"/>.</summary>
    internal long AcceptedCount => Interlocked.Read(ref _acceptedCount);

    /// <summary>How many octets of messages were accepted since <see cref="Start"/>.</summary>
    internal long AcceptedSize => Interlocked.Read(ref _acceptedSize);

    /// <summary>How many clients, senders and recipients the catcher's policies refused since <see cref="Start"/> (Mailpit's <c>SMTPRejected</c>).</summary>
    internal long RejectedCount => Interlocked.Read(ref _rejectedCount);

    /// <summary>
    /// How many messages this process deleted from the store since <see cref="Start"/> (Mailpit's
    /// <c>MessagesDeleted</c>): through the API, by POP3 <c>DELE</c> and by retention, as Mailpit counts its
    /// deletions and its pruning alike.
    /// </summary>
    internal long DeletedCount => Interlocked.Read(ref _deletedCount);

    /// <summary>Counts messages this process deleted from the store (see <see cref="DeletedCount"/>).</summary>
    /// <param name="messages">How many.</param>
    internal void CountDeleted(long messages) => Interlocked.Add(ref _deletedCount, messages);

    /// <summary>The bound listeners, with their real ports; empty until <see cref="Start"/>.</summary>
    public IReadOnlyList<SmtpListener> Listeners => _server?.Listeners ?? [];

    /// <summary>The bound POP3 endpoints, with their real ports; empty without POP3 or until <see cref="Start"/>.</summary>
    public IReadOnlyList<System.Net.IPEndPoint> Pop3EndPoints => _pop3?.EndPoints ?? [];

    /// <summary>The full path of the SQLite store, or <see langword="null"/> when nothing is stored or the store is PostgreSQL.</summary>
    public string? StorePath => (_store as SqliteCatcherStore)?.Path;

    /// <summary>Where the store is, for people (a file path, or a PostgreSQL server and database), or <see langword="null"/> when nothing is stored.</summary>
    public string? StoreLocation => _store?.Location;

    /// <summary>The store (SQLite or PostgreSQL), or <see langword="null"/> when nothing is stored (a sink) or before <see cref="Start"/>.</summary>
    internal ICatcherStore? Store => _store;

    /// <summary>The Maildir messages are also written to, or <see langword="null"/>.</summary>
    public string? MaildirPath => _maildir?.Directory;

    /// <summary>Opens the store and the Maildir, then binds every listener.</summary>
    /// <exception cref="CatcherConfigurationException">The store or the Maildir cannot be used.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">A listener cannot be bound; none is.</exception>
    public void Start()
    {
        if (_server is not null)
        {
            throw new InvalidOperationException("The catcher has already started.");
        }

        Open();
        _hooks = Webhooks.CatcherHooks.Attach(this, _loggerFactory);
        var server = new SmtpServer(BuildOptions(), _loggerFactory);
        if (_options.Metrics)
        {
            // Before the listeners open, so that the first connection is counted; scoped to these two meters, so that
            // other catchers in the process (parallel tests) never add to this one's numbers.
            _collector ??= new Metrics.PrometheusCollector(_metrics.BeginCollect, server.Meter, _metrics.Meter);
            _metrics.Start();
        }

        IReadOnlyList<SmtpListener> listeners = _options.Listeners.Count > 0 ? [.. _options.Listeners] : [new SmtpListener(CatcherOptions.DefaultEndPoint)];
        server.Start([.. listeners]);
        _server = server;
        StartPop3();
        StartedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>
    /// Stops: new connections are refused at once, idle sessions get <c>421</c>, transactions in flight finish
    /// within <paramref name="drainTimeout"/>; then what is queued is committed and the store is closed.
    /// </summary>
    /// <param name="drainTimeout">How long transfers in flight may take.</param>
    /// <param name="cutShort">Cancels the drain early (a second Ctrl-C).</param>
    /// <returns>A task that completes when the store is closed.</returns>
    public async Task StopAsync(TimeSpan drainTimeout, CancellationToken cutShort = default)
    {
        await StopPop3Async();
        if (_server is not null)
        {
            await _server.StopAsync(drainTimeout, cutShort);
        }

        if (_hooks is not null)
        {
            await _hooks.DisposeAsync();
        }

        // Every session has ended, so nothing more can be queued: commit what is left and close the store.
        if (_store is not null)
        {
            await _store.CloseAsync();
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopPop3Async();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_hooks is not null)
        {
            await _hooks.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.CloseAsync();
            _store.Dispose();
        }

        _collector?.Dispose();
        _metrics.Dispose();
    }

    /// <summary>Starts POP3 when it has endpoints; a bind failure stops the SMTP listeners too, so none is left bound.</summary>
    private void StartPop3()
    {
        if (_options.Pop3.EndPoints.Count == 0)
        {
            return;
        }

        var pop3 = new Pop3.Pop3Server(_options.Pop3, new Pop3.StoreMaildrops(this), _options.Smtp.ServerCertificate, _loggerFactory.CreateLogger("Smtpd.Catcher.Pop3"));
        try
        {
            pop3.Start();
        }
        catch (System.Net.Sockets.SocketException)
        {
            _server!.DisposeAsync().AsTask().GetAwaiter().GetResult();
            _server = null;
            throw;
        }

        _pop3 = pop3;
    }

    private async Task StopPop3Async()
    {
        if (Interlocked.Exchange(ref _pop3, null) is { } pop3)
        {
            await pop3.DisposeAsync();
        }
    }

    private void Open()
    {
        try
        {
            Mailboxes = Catcher.Mailboxes.MailboxRouter.Create(_options.Mailboxes);
        }
        catch (FormatException ex)
        {
            throw new CatcherConfigurationException(nameof(CatcherOptions.Mailboxes), ex.Message, ex);
        }

        if (_options.Pop3.EndPoints.Count > 0 && _options.DatabasePath is null && _options.DatabaseConnectionString is null)
        {
            throw new CatcherConfigurationException(nameof(CatcherOptions.Pop3), "POP3 serves the store: it needs DatabasePath (the smtpd tool: drop --no-store)");
        }

        if (_options.Maildir is { } maildir)
        {
            try
            {
                _maildir = new MaildirWriter(maildir);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new CatcherConfigurationException(nameof(CatcherOptions.Maildir), $"cannot use {maildir} as a Maildir: {ex.Message}", ex);
            }
        }

        var retention = new StoreRetention(_options.Retain, _options.RetainAge, _options.RetainSize) { MailboxKeep = Mailboxes.Keep };
        if (_options.DatabaseConnectionString is { } connectionString)
        {
            Storage.Postgres.PostgresCatcherStore postgres;
            try
            {
                postgres = Storage.Postgres.PostgresCatcherStore.Open(connectionString, retention, _time, OnPruned);
            }
            catch (Exception ex) when (ex is Npgsql.NpgsqlException or ArgumentException or InvalidOperationException or TimeoutException)
            {
                throw new CatcherConfigurationException(nameof(CatcherOptions.DatabaseConnectionString), $"cannot open the PostgreSQL store {Storage.Postgres.PostgresCatcherStore.Describe(connectionString)}: {ex.Message}", ex);
            }

            _store = postgres;
            _store.RemoteStored += OnRemoteStored;
            // Another instance's retention removed messages from the shared store: this instance's live clients
            // reload their lists as they do after a local prune (Mailpit's prune event carries no data).
            postgres.RemotePruned += () => Events.Publish("prune", null);
            // Read status, tags and deletes made through one instance's API or POP3 reach every instance's live
            // clients: this instance's own changes go out by NOTIFY, and the others' come back as remote changes,
            // which are not sent on again. New messages and prunes have their own NOTIFYs (above).
            Events.Published += change =>
            {
                if (!change.Remote && change.Type is "update" or "delete" or "truncate")
                {
                    postgres.Announce(change);
                }
            };
            postgres.RemoteChanged += changes =>
            {
                foreach (var change in changes)
                {
                    Events.PublishRemote(change.Type, change.Data is System.Text.Json.JsonElement data ? data : null, change.Mailbox);
                }
            };
        }
        else if (_options.DatabasePath is { } database)
        {
            try
            {
                _store = new SqliteCatcherStore(database, retention, _time, OnPruned);
            }
            catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                throw new CatcherConfigurationException(nameof(CatcherOptions.DatabasePath), $"cannot open the store {database}: {ex.Message}", ex);
            }
        }
    }

    private SmtpServerOptions BuildOptions()
    {
        var o = _options;
        var options = o.Smtp.Clone();
        options.Deliver = DeliverAsync;
        options.DeliverMime = null;
        options.DeliverLines = null;
        options.ValidateHost = o.RejectHosts.Count > 0 ? ValidateHost : null;
        options.ValidateSender = o.AllowSenders.Count > 0 || o.RejectSenders.Count > 0
            ? (session, sender, ct) => ValueTask.FromResult(Counted(Check(sender?.Address ?? string.Empty, o.AllowSenders, o.RejectSenders)))
            : null;
        options.ValidateRecipient = o.AllowRecipients.Count > 0 || o.RejectRecipients.Count > 0
            ? (session, recipient, ct) => ValueTask.FromResult(Counted(Check(recipient.Address, o.AllowRecipients, o.RejectRecipients)))
            : null;
        options.Authenticate = o.AuthEnabled ? Authenticate : null;
        // Last, so an injected fault acts before the policies and the store see the command or the message.
        Chaos.Faults.AttachTo(options);
        return options;
    }

    private async ValueTask<SmtpVerdict> DeliverAsync(SmtpMessage message, CancellationToken cancellationToken)
    {
        var analyzed = await MessageAnalyzer.AnalyzeAsync(message, cancellationToken);
        var record = analyzed.Record with { ListenerPort = message.Session.LocalEndPoint.Port };
        record = record with { Mailboxes = Mailboxes.Route(record) };
        string? id = null;
        if (_maildir is not null)
        {
            id = await _maildir.WriteAsync(message, cancellationToken);
        }

        if (_store is not null)
        {
            // Not cancellable: once queued, the writer may read the content, so this callback (and with it the
            // content) must outlive the commit. The wait is short; the 250 is sent only after it.
            var stored = await _store.StoreAsync(record, analyzed.Content, message.OpenRead);
            id = stored.ToString(CultureInfo.InvariantCulture);
            record = record with { Id = stored };
        }

        id ??= Guid.CreateVersion7().ToString("N");
        Stored(id, record);
        return SmtpVerdict.AcceptWith(new SmtpReply(250, "2.0.0", _store is not null ? $"Ok: stored as {id}" : $"Ok: {id}"));
    }

    /// <summary>
    /// Stores a message that did not come over SMTP (<c>POST /api/v1/send</c>), exactly as a delivered one: the same
    /// analysis, the same commit, the same events.
    /// </summary>
    /// <param name="content">The exact content.</param>
    /// <param name="envelope">The envelope and session members of the record.</param>
    /// <returns>The store's id.</returns>
    /// <exception cref="InvalidOperationException">The catcher keeps no store, or it is closing.</exception>
    internal async Task<long> StoreLocalAsync(byte[] content, MessageRecord envelope)
    {
        var store = _store ?? throw new InvalidOperationException("The catcher keeps no store.");
        var analyzed = MessageAnalyzer.AnalyzeLocal(content, envelope);
        // Routed like SMTP mail, by its recipients (it has no listener port or AUTH user of its own).
        var record = analyzed.Record with { Mailboxes = Mailboxes.Route(analyzed.Record) };
        var id = await store.StoreAsync(record, analyzed.Content, () => new MemoryStream(content, writable: false));
        Stored(id.ToString(CultureInfo.InvariantCulture), record with { Id = id });
        return id;
    }

    private void Stored(string id, MessageRecord record)
    {
        Interlocked.Increment(ref _acceptedCount);
        Interlocked.Add(ref _acceptedSize, record.Size);
        _metrics.Stored();
        MessageStored?.Invoke(id, record);
        MessageArrived?.Invoke(id, record);
    }

    /// <summary>
    /// Messages another instance stored in the shared database (PostgreSQL's NOTIFY): announced to the live side
    /// only (<see cref="MessageArrived"/>). Webhooks, relay and the counters belong to the instance that said 250.
    /// </summary>
    private void OnRemoteStored(IReadOnlyList<long> ids)
    {
        if (MessageArrived is not { } arrived || _store is not { } store)
        {
            return;
        }

        try
        {
            using var reader = store.Open();
            foreach (var id in ids)
            {
                if (reader.FindWithTags(id) is { } record)
                {
                    // The memberships the accepting instance routed to (stored with the message): a mailbox's live
                    // clients here filter on them, and re-routing with this instance's rules could disagree.
                    arrived(id.ToString(CultureInfo.InvariantCulture), record with { Mailboxes = reader.MailboxesOf(id) });
                }
            }
        }
        catch (Exception ex) when (ex is StoreUnavailableException or Npgsql.NpgsqlException or InvalidOperationException)
        {
            // The database went away between the NOTIFY and the read: the list shows the message once it is back.
        }
    }

    private void OnPruned(StorePruned pruned)
    {
        CountDeleted(pruned.Messages);
        // Mailpit's prune event carries no data: a client reloads its list. Published before the host's callback, so
        // whoever hears of the prune from the callback finds it announced and counted.
        Events.Publish("prune", null);
        MessagesPruned?.Invoke(pruned);
    }

    private ValueTask<SmtpVerdict> ValidateHost(SmtpSessionContext session, CancellationToken cancellationToken)
    {
        var address = session.RemoteEndPoint.Address;
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        // No reason text: the client gets exactly "550 Access denied", the Tcl validate_host reply.
        return ValueTask.FromResult(Counted(_options.RejectHosts.Any(n => n.Contains(address)) ? SmtpVerdict.Reject() : SmtpVerdict.Accept));
    }

    private SmtpVerdict Counted(SmtpVerdict verdict)
    {
        if (!verdict.IsAccepted)
        {
            Interlocked.Increment(ref _rejectedCount);
        }

        return verdict;
    }

    private static SmtpVerdict Check(string address, IList<System.Text.RegularExpressions.Regex> allow, IList<System.Text.RegularExpressions.Regex> reject)
    {
        if (allow.Count > 0 && !allow.Any(r => r.IsMatch(address)))
        {
            return SmtpVerdict.Reject("not matched by an allow pattern");
        }

        return reject.Any(r => r.IsMatch(address)) ? SmtpVerdict.Reject("matched by a reject pattern") : SmtpVerdict.Accept;
    }

    private ValueTask<SmtpVerdict> Authenticate(SmtpSessionContext session, SmtpAuthentication credentials, CancellationToken cancellationToken)
    {
        if (_options.AuthAny)
        {
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }

        var ok = credentials.Password is { } password
            && _options.AuthUsers.TryGetValue(credentials.Identity, out var expected)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(password), Encoding.UTF8.GetBytes(expected));
        return ValueTask.FromResult(ok ? SmtpVerdict.Accept : SmtpVerdict.Reject("wrong user or password"));
    }
}
