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

    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresStoreWriter _writer;
    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _listener;
    private readonly Action<StorePruned>? _pruned;
    private int _closed;

    private PostgresCatcherStore(NpgsqlDataSource dataSource, string location, StoreRetention retention, TimeProvider time, Action<StorePruned>? pruned)
    {
        _dataSource = dataSource;
        _pruned = pruned;
        Location = location;
        _writer = new PostgresStoreWriter(dataSource, retention, time, pruned, _instance);
        _listener = Task.Run(ListenAsync);
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
    /// Connects, applies the missing migrations (under their advisory lock) and starts the writer and the listener.
    /// Starting needs the server: a catcher that cannot reach it at start says so and does not start, while an
    /// outage after the start only makes sessions answer 451 until it ends.
    /// </summary>
    /// <param name="connectionString">A connection string or a <c>postgres://</c> URL.</param>
    /// <param name="retention">Which messages to keep.</param>
    /// <param name="time">The clock retention by age reads.</param>
    /// <param name="pruned">Called after each commit that pruned.</param>
    /// <returns>The store.</returns>
    public static PostgresCatcherStore Open(string connectionString, StoreRetention retention, TimeProvider time, Action<StorePruned>? pruned)
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresConnection.Normalize(connectionString));
        // A catcher serves HTTP readers beside its writer: fail fast when the server is away, so a request answers
        // 503 in seconds rather than hanging, and name the application in pg_stat_activity.
        if (!new NpgsqlConnectionStringBuilder(connectionString.StartsWith("postgres", StringComparison.OrdinalIgnoreCase) ? string.Empty : connectionString).ContainsKey("Timeout"))
        {
            builder.Timeout = 5;
        }

        builder.ApplicationName ??= "smtpd catcher";
        var dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        try
        {
            using (var connection = dataSource.OpenConnection())
            {
                PostgresSchema.Migrate(connection);
            }

            return new PostgresCatcherStore(dataSource, PostgresConnection.Describe(builder.ConnectionString), retention, time, pruned);
        }
        catch
        {
            dataSource.Dispose();
            throw;
        }
    }

    /// <summary>The server and database of a connection string, without its password.</summary>
    /// <param name="connectionString">The connection string or URL.</param>
    /// <returns>The description.</returns>
    public static string Describe(string connectionString) => PostgresConnection.Describe(connectionString);

    /// <inheritdoc/>
    public IMessageStore Open()
    {
        try
        {
            return new PostgresMessageStore(_dataSource.OpenConnection());
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
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _listener.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The listener ends by cancellation.
        }

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
    }
}
