using System.Buffers;
using System.Globalization;
using Npgsql;

namespace Smtpd.Catcher.Storage.Postgres;

/// <summary>
/// The PostgreSQL store: one <see cref="NpgsqlDataSource"/> (its pool serves the writer and every reader), the
/// group-commit <see cref="PostgresStoreWriter"/>, and a LISTEN connection that hears the messages other instances
/// on the same database commit (<see cref="RemoteStored"/>), so every instance's live API shows every message.
/// </summary>
internal sealed class PostgresCatcherStore : ICatcherStore
{
    /// <summary>How long the LISTEN loop waits before it reconnects after losing its connection.</summary>
    private static readonly TimeSpan ListenRetry = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The most changes waiting to be announced to the other instances. A live event is a hint for clients that
    /// reload what they show (the store is the truth), so past this many, during an outage, changes are dropped
    /// rather than held in memory without bound.
    /// </summary>
    private const int ChangeQueueCapacity = 10_000;

    /// <summary>The most octets of changes one NOTIFY carries: PostgreSQL refuses a payload of 8000 octets or more.</summary>
    private const int MaxChangePayload = 7_500;

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _readers;
    private readonly PostgresStoreWriter _writer;
    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _listener;
    private readonly Action<StorePruned>? _pruned;
    private readonly System.Threading.Channels.Channel<Http.CatcherChange> _changes =
        System.Threading.Channels.Channel.CreateBounded<Http.CatcherChange>(new System.Threading.Channels.BoundedChannelOptions(ChangeQueueCapacity)
        {
            FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite,
            SingleReader = true,
        });
    private readonly Task _announcer;
    private int _closed;

    private PostgresCatcherStore(NpgsqlDataSource dataSource, NpgsqlDataSource readers, string location, StoreRetention retention, TimeProvider time, Action<StorePruned>? pruned, TimeSpan? resolveTimeout)
    {
        _dataSource = dataSource;
        _readers = readers;
        _pruned = pruned;
        Location = location;
        _writer = new PostgresStoreWriter(dataSource, retention, time, pruned, _instance, resolveTimeout, readers);
        _listener = Task.Run(ListenAsync);
        _announcer = Task.Run(AnnounceChangesAsync);
    }

    /// <inheritdoc/>
    public string Location { get; }

    /// <inheritdoc/>
    public IMessageQueryCompiler Compiler => PostgresSearchCompiler.Instance;

    /// <inheritdoc/>
    public event Action<IReadOnlyList<long>>? RemoteStored;

    /// <summary>Raised when another instance pruned by retention (its NOTIFY), on a thread-pool thread.</summary>
    public event Action? RemotePruned;

    /// <summary>
    /// Raised with the read, tag and delete changes another instance's API or POP3 made (its NOTIFY), on a
    /// thread-pool thread, so this instance's live clients see them too.
    /// </summary>
    public event Action<IReadOnlyList<Http.CatcherChange>>? RemoteChanged;

    /// <summary>
    /// Queues a change this instance made (read status, tags, a delete, a truncate) for the other instances on the
    /// same database. Never blocks: the caller is a request or a POP3 session.
    /// </summary>
    /// <param name="change">The change, as this instance's live clients got it.</param>
    public void Announce(Http.CatcherChange change) => _changes.Writer.TryWrite(change);

    /// <summary>
    /// Connects, applies the missing migrations (under their advisory lock) and starts the writer and the listener.
    /// Starting needs the server: a catcher that cannot reach it at start says so and does not start, while an
    /// outage after the start only makes sessions answer 451 until it ends.
    /// </summary>
    /// <param name="connectionString">A connection string or a <c>postgres://</c> URL.</param>
    /// <param name="retention">Which messages to keep.</param>
    /// <param name="time">The clock retention by age reads.</param>
    /// <param name="pruned">Called after each commit that pruned.</param>
    /// <param name="resolveTimeout">
    /// How long the writer tries to learn the outcome of a COMMIT whose acknowledgement was lost before answering 451
    /// (<see cref="PostgresStoreWriter.DefaultResolveTimeout"/> if null; tests shorten it).
    /// </param>
    /// <returns>The store.</returns>
    public static PostgresCatcherStore Open(string connectionString, StoreRetention retention, TimeProvider time, Action<StorePruned>? pruned, TimeSpan? resolveTimeout = null)
    {
        var builder = Settings(connectionString);
        var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        NpgsqlDataSource? readers = null;
        try
        {
            using (var connection = dataSource.OpenConnection())
            {
                PostgresSchema.Migrate(connection);
            }

            readers = NpgsqlDataSource.Create(ReaderConnectionString(builder));
            return new PostgresCatcherStore(dataSource, readers, PostgresConnection.Describe(builder.ConnectionString), retention, time, pruned, resolveTimeout);
        }
        catch
        {
            readers?.Dispose();
            dataSource.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The readers' connections (the API's pages, searches and message reads), a pool of their own. Their statements
    /// are few and asked again and again (a page's mark, the tags, the plain list), and parsing and planning them cost
    /// PostgreSQL more than running them: 0.5 ms of a 1 ms search that matches nothing, where SQLite answers in 0.45.
    /// So Npgsql prepares a statement once it has run twice (<c>Max Auto Prepare</c>, kept per physical connection,
    /// through the pool's resets). A prepared search must not get a generic plan, though: without its pattern
    /// PostgreSQL cannot tell a rare search from a common one, and <c>ORDER BY id DESC LIMIT 1</c> would walk the
    /// primary key through every row for a search that matches nothing. <c>plan_cache_mode=force_custom_plan</c>
    /// plans each search for its values (statements without parameters keep their one plan). The writer keeps its own
    /// pool and prepares its statements itself.
    /// </summary>
    /// <param name="builder">The catcher's connection settings.</param>
    /// <returns>The readers' connection string; settings the user gave are kept.</returns>
    internal static string ReaderConnectionString(NpgsqlConnectionStringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var readers = new NpgsqlConnectionStringBuilder(builder.ConnectionString);
        if (readers.MaxAutoPrepare == 0)
        {
            readers.MaxAutoPrepare = 64;
            readers.AutoPrepareMinUsages = 2;
        }

        // A reader changes no session state (no SET, LISTEN, temporary table or advisory lock; a failed transaction
        // is rolled back before the connection is returned), so the pool's reset on each return, seven statements
        // that PostgreSQL runs before the next request's first, has nothing to undo.
        if (!Given(builder, "No Reset On Close"))
        {
            readers.NoResetOnClose = true;
        }

        if (readers.Options?.Contains("plan_cache_mode", StringComparison.Ordinal) != true)
        {
            readers.Options = ((readers.Options ?? string.Empty) + " -c plan_cache_mode=force_custom_plan").Trim();
        }

        // The readers' own writes (read marks, tags, deletes through the API and POP3, folds of the counts) do not wait
        // for the WAL flush: a crash of the server can lose only the last of them, never break one in half (PostgreSQL
        // manual, "Asynchronous Commit"), as the SQLite store's API connections do (synchronous=NORMAL).
        // Messages are written by the writer's own pool, which keeps the server's setting, before their 250.
        if (readers.Options?.Contains("synchronous_commit", StringComparison.Ordinal) != true)
        {
            readers.Options = ((readers.Options ?? string.Empty) + " -c synchronous_commit=off").Trim();
        }

        return readers.ConnectionString;
    }

    /// <summary>
    /// The catcher's connection settings: the string or URL normalized, a connect timeout of 5 seconds unless one is
    /// given (a catcher serves HTTP readers beside its writer: when the server is away a request answers 503 in
    /// seconds rather than waiting Npgsql's 15), and the application named in <c>pg_stat_activity</c>.
    /// </summary>
    /// <param name="connectionString">A connection string or a <c>postgres://</c> URL.</param>
    /// <returns>The settings.</returns>
    internal static NpgsqlConnectionStringBuilder Settings(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresConnection.Normalize(connectionString));
        if (!Given(builder, "Timeout"))
        {
            builder.Timeout = 5;
        }

        builder.ApplicationName ??= "smtpd catcher";
        return builder;
    }

    /// <summary>
    /// Whether the settings name <paramref name="keyword"/> (in Npgsql's canonical spelling). NpgsqlConnectionStringBuilder's
    /// own ContainsKey answers true for every keyword it knows, given or not; the plain builder only for those given.
    /// </summary>
    private static bool Given(NpgsqlConnectionStringBuilder builder, string keyword) =>
        new System.Data.Common.DbConnectionStringBuilder { ConnectionString = builder.ConnectionString }.ContainsKey(keyword);

    /// <summary>The server and database of a connection string, without its password.</summary>
    /// <param name="connectionString">The connection string or URL.</param>
    /// <returns>The description.</returns>
    public static string Describe(string connectionString) => PostgresConnection.Describe(connectionString);

    /// <inheritdoc/>
    public IMessageStore Open()
    {
        try
        {
            return new PostgresMessageStore(_readers.OpenConnection());
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            throw new StoreUnavailableException($"the PostgreSQL store {Location} is unavailable: {ex.Message}", ex);
        }
    }

    /// <inheritdoc/>
    public int QueueLength => _writer.QueueLength;

    /// <inheritdoc/>
    public Task<long> StoreAsync(MessageRecord record, byte[]? content, Func<Stream> openContent) => _writer.StoreAsync(record, content, openContent);

    /// <inheritdoc/>
    public async Task CloseAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        await _writer.CloseAsync().ConfigureAwait(false);
        _changes.Writer.TryComplete();
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _listener.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The listener ends by cancellation.
        }

        await _announcer.ConfigureAwait(false);

        await _readers.DisposeAsync().ConfigureAwait(false);
        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    /// <inheritdoc/>
    public void Dispose() => CloseAsync().GetAwaiter().GetResult();

    /// <summary>
    /// Holds one connection in LISTEN and turns the other instances' NOTIFYs into <see cref="RemoteStored"/>. A lost
    /// connection (the server restarted) is reopened after <see cref="ListenRetry"/>; what was committed meanwhile is
    /// in the store and the list, and only its live announcement is missed.
    /// </summary>
    private async Task ListenAsync()
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(token).ConfigureAwait(false);
                connection.Notification += OnNotification;
                await using (var listen = new NpgsqlCommand("LISTEN " + PostgresSchema.Channel, connection))
                {
                    await listen.ExecuteNonQueryAsync(token).ConfigureAwait(false);
                }

                while (true)
                {
                    await connection.WaitAsync(token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException or System.Net.Sockets.SocketException or InvalidOperationException)
            {
                try
                {
                    await Task.Delay(ListenRetry, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        // "<instance> new 1,2,3" or "<instance> prune"; an instance ignores its own, which it announced already.
        var parts = e.Payload.Split(' ', 3);
        if (parts.Length < 2 || parts[0] == _instance)
        {
            return;
        }

        if (parts[1] == "new" && parts.Length == 3 && RemoteStored is { } stored)
        {
            var ids = parts[2].Split(',', StringSplitOptions.RemoveEmptyEntries)
                .Select(id => long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : 0)
                .Where(id => id > 0).ToArray();
            // Off the connection's thread: the handler reads the store, and the LISTEN loop must go on listening.
            ThreadPool.UnsafeQueueUserWorkItem(static state => state.stored(state.ids), (stored, ids), preferLocal: false);
        }
        else if (parts[1] == "prune" && RemotePruned is { } remote)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static r => r(), remote, preferLocal: false);
        }
        else if (parts[1] == "change" && parts.Length == 3 && RemoteChanged is { } changed && ParseChanges(parts[2]) is { Count: > 0 } changes)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static state => state.changed(state.changes), (changed, changes), preferLocal: false);
        }
    }

    /// <summary>
    /// Sends the queued changes to the other instances, as many per NOTIFY as fit its payload: a delete of
    /// thousands of messages is a few dozen NOTIFYs, not one per message. A change that cannot be sent (the server
    /// is away) is dropped: the other instances' clients reload from the store when it is back.
    /// </summary>
    private async Task AnnounceChangesAsync()
    {
        var reader = _changes.Reader;
        var payload = new ArrayBufferWriter<byte>(MaxChangePayload + 1024);
        var item = new ArrayBufferWriter<byte>(256);
        Http.CatcherChange? carried = null;
        try
        {
            while (carried is not null || await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                payload.ResetWrittenCount();
                payload.Write("["u8);
                var count = 0;
                while (carried is { } next || reader.TryRead(out next))
                {
                    carried = null;
                    item.ResetWrittenCount();
                    WriteChange(item, next);
                    if (item.WrittenCount + 2 > MaxChangePayload)
                    {
                        continue; // One change too large for any NOTIFY (a message with hundreds of tags): dropped.
                    }

                    if (payload.WrittenCount + item.WrittenCount + 2 > MaxChangePayload)
                    {
                        carried = next; // It opens the next NOTIFY.
                        break;
                    }

                    if (count++ > 0)
                    {
                        payload.Write(","u8);
                    }

                    payload.Write(item.WrittenSpan);
                }

                payload.Write("]"u8);
                if (count > 0)
                {
                    await NotifyChangesAsync(System.Text.Encoding.UTF8.GetString(payload.WrittenSpan)).ConfigureAwait(false);
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // The store closed while a NOTIFY was being sent.
        }
    }

    private async Task NotifyChangesAsync(string changes)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(_stopping.Token).ConfigureAwait(false);
            await using var notify = new NpgsqlCommand("SELECT pg_notify($1, $2)", connection);
            notify.Parameters.Add(new NpgsqlParameter<string> { TypedValue = PostgresSchema.Channel });
            notify.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _instance + " change " + changes });
            await notify.ExecuteNonQueryAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException)
        {
            // Best effort, as above.
        }
    }

    /// <summary>One change as <c>{"t":type,"m":mailbox,"d":data}</c>.</summary>
    private static void WriteChange(ArrayBufferWriter<byte> buffer, Http.CatcherChange change)
    {
        using var writer = new System.Text.Json.Utf8JsonWriter(buffer);
        writer.WriteStartObject();
        writer.WriteString("t", change.Type);
        writer.WriteString("m", change.Mailbox);
        writer.WritePropertyName("d");
        change.WriteData(writer);
        writer.WriteEndObject();
    }

    /// <summary>The changes of another instance's NOTIFY; anything malformed is skipped, never thrown.</summary>
    private static List<Http.CatcherChange> ParseChanges(string json)
    {
        var changes = new List<Http.CatcherChange>();
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(json);
            if (document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Array)
            {
                foreach (var element in document.RootElement.EnumerateArray())
                {
                    if (ToChange(element) is { } change)
                    {
                        changes.Add(change);
                    }
                }
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Not from a catcher of this version: nothing to announce.
        }

        return changes;
    }

    private static Http.CatcherChange? ToChange(System.Text.Json.JsonElement element)
    {
        if (element.ValueKind != System.Text.Json.JsonValueKind.Object
            || !element.TryGetProperty("t", out var type) || type.GetString() is not ("update" or "delete" or "truncate") || type.GetString() is not { } name)
        {
            return null;
        }

        var mailbox = element.TryGetProperty("m", out var m) && m.ValueKind == System.Text.Json.JsonValueKind.String ? m.GetString() : null;
        object? data = element.TryGetProperty("d", out var d) && d.ValueKind != System.Text.Json.JsonValueKind.Null ? d.Clone() : null;
        return new Http.CatcherChange(name, data, mailbox, Remote: true);
    }
}
