using System.Security.Cryptography;
using Npgsql;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Storage.Postgres;
using Smtpd.Catcher.Tests.Http;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// Issue 16, outages: "a message that got 250 is never lost, and never stored twice after a client retries". The
/// connection to a real PostgreSQL goes through <see cref="PostgresCommitProxy"/>, which loses a COMMIT's reply (the
/// server committed, the writer cannot know) or the COMMIT itself (the server rolled back).
/// </summary>
public sealed class PostgresCommitOutcomeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MessageRecord Record(string subject, string client = "127.0.0.1:4242")
    {
        var content = System.Text.Encoding.UTF8.GetBytes($"Subject: {subject}\r\n\r\nHello\r\n");
        return new MessageRecord
        {
            ReceivedAt = DateTimeOffset.UtcNow,
            MailFrom = "alice@example.com",
            Recipients = ["bob@example.com", "carol@example.net"],
            Client = client,
            Size = content.Length,
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(content)),
            Subject = subject,
        };
    }

    private static Task<long> StoreAsync(PostgresCatcherStore store, MessageRecord record)
    {
        var content = System.Text.Encoding.UTF8.GetBytes($"Subject: {record.Subject}\r\n\r\nHello\r\n");
        return store.StoreAsync(record, content, () => new MemoryStream(content));
    }

    /// <summary>The ids stored under a subject, read directly from the database (not through the proxy).</summary>
    private static async Task<List<long>> IdsAsync(string database, string subject)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(database) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT id FROM messages WHERE subject = $1 ORDER BY id", connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = subject });
        var ids = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    /// <summary>Waits until the server has ended the transaction the proxy cut off (its backend noticed the closed socket).</summary>
    private static async Task NoTransactionLeftOpenAsync(string database)
    {
        var name = new NpgsqlConnectionStringBuilder(database).Database;
        var admin = Environment.GetEnvironmentVariable(StoreBackend.Variable)!;
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(admin) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'", connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
        while ((long)(await command.ExecuteScalarAsync(Ct))! > 0)
        {
            await Task.Delay(20, Ct);
        }
    }

    [Fact]
    public async Task ACommitWhoseReplyIsLostIsAskedAboutAndTheSessionGetsTheStoredId()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var proxy = PostgresCommitProxy.Start(database);
        var store = PostgresCatcherStore.Open(proxy.ConnectionString, new StoreRetention(0, null, 0), TimeProvider.System, null);
        try
        {
            await StoreAsync(store, Record("before"));
            proxy.LoseNextCommitReply();

            var id = await StoreAsync(store, Record("reply lost"));

            Assert.True(proxy.Dropped.IsCompleted, "the proxy never dropped a COMMIT's reply");
            Assert.Equal([id], await IdsAsync(database, "reply lost"));
            // The writer recovered: the next message is stored as usual.
            var next = await StoreAsync(store, Record("after"));
            Assert.Equal([next], await IdsAsync(database, "after"));
        }
        finally
        {
            await store.CloseAsync();
        }
    }

    [Fact]
    public async Task ACommitThatNeverReachedTheServerIsAnswered451AndNothingIsStored()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var proxy = PostgresCommitProxy.Start(database);
        var store = PostgresCatcherStore.Open(proxy.ConnectionString, new StoreRetention(0, null, 0), TimeProvider.System, null);
        try
        {
            await StoreAsync(store, Record("before"));
            proxy.DropNextCommit();

            await Assert.ThrowsAsync<StoreUnavailableException>(() => StoreAsync(store, Record("commit lost")));

            Assert.True(proxy.Dropped.IsCompleted, "the proxy never dropped a COMMIT");
            Assert.Empty(await IdsAsync(database, "commit lost"));
            var retried = await StoreAsync(store, Record("commit lost", client: "127.0.0.1:5353"));
            Assert.Equal([retried], await IdsAsync(database, "commit lost"));
        }
        finally
        {
            await store.CloseAsync();
        }
    }

    [Fact]
    public async Task WhenTheOutcomeCannotBeLearnedInTimeTheIdenticalRetryGets250WithoutASecondCopy()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var proxy = PostgresCommitProxy.Start(database);
        // No time to resolve: one attempt, refused by the proxy, and the session must answer.
        var store = PostgresCatcherStore.Open(proxy.ConnectionString, new StoreRetention(0, null, 0), TimeProvider.System, null, resolveTimeout: TimeSpan.Zero);
        try
        {
            await StoreAsync(store, Record("before"));
            proxy.LoseNextCommitReply(thenRefuse: true);

            await Assert.ThrowsAsync<StoreUnavailableException>(() => StoreAsync(store, Record("uncertain")));

            // It was committed all the same: the 451 was the only safe answer without knowing it.
            var first = Assert.Single(await IdsAsync(database, "uncertain"));
            proxy.Refusing = false;
            // The client retries the identical transaction, from another port, later.
            var retried = await StoreAsync(store, Record("uncertain", client: "127.0.0.1:5353"));
            Assert.Equal(first, retried);
            Assert.Equal([first], await IdsAsync(database, "uncertain"));
            // Once only: the same message sent again after that is a message of its own.
            var again = await StoreAsync(store, Record("uncertain"));
            Assert.NotEqual(first, again);
            Assert.Equal([first, again], await IdsAsync(database, "uncertain"));
        }
        finally
        {
            await store.CloseAsync();
        }
    }

    [Fact]
    public async Task TheRetryOfAnUncertainMessageThatCommittedGets250OnAnotherInstanceWithoutASecondCopy()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var proxy = PostgresCommitProxy.Start(database);
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var first = PostgresCatcherStore.Open(proxy.ConnectionString, new StoreRetention(0, null, 0), clock, null, resolveTimeout: TimeSpan.Zero);
        var second = PostgresCatcherStore.Open(database, new StoreRetention(0, null, 0), TimeProvider.System, null);
        try
        {
            await StoreAsync(first, Record("before"));
            proxy.LoseNextCommitReply(thenRefuse: true);
            await Assert.ThrowsAsync<StoreUnavailableException>(() => StoreAsync(first, Record("uncertain")));
            var stored = Assert.Single(await IdsAsync(database, "uncertain"));

            // The server is back. The first instance gets no more mail (its client retries through the balancer to
            // the other one), so its timer settles the uncertain message and publishes it.
            proxy.Refusing = false;
            await WaitForRetryKeyAsync(database, clock);

            var retried = await StoreAsync(second, Record("uncertain", client: "127.0.0.1:5353"));
            Assert.Equal(stored, retried);
            Assert.Equal([stored], await IdsAsync(database, "uncertain"));
            // Once only, on any instance: the same message sent again is a message of its own.
            var again = await StoreAsync(second, Record("uncertain"));
            var alsoAgain = await StoreAsync(first, Record("uncertain"));
            Assert.Equal([stored, again, alsoAgain], await IdsAsync(database, "uncertain"));
        }
        finally
        {
            await first.CloseAsync();
            await second.CloseAsync();
        }
    }

    [Fact]
    public async Task ARetryKeyWhoseFirstCopyIsGoneStoresTheRetry()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        var store = PostgresCatcherStore.Open(database, new StoreRetention(0, null, 0), TimeProvider.System, null);
        try
        {
            var record = Record("deleted since");
            var first = await StoreAsync(store, record);
            await ExecuteAsync(database, $"INSERT INTO retry_keys (key, message_id, sha256) VALUES ('{PostgresUncertainCommits.KeyOf(record)}', {first}, '{record.Sha256}'); DELETE FROM messages WHERE id = {first}");

            var retried = await StoreAsync(store, Record("deleted since"));

            Assert.NotEqual(first, retried);
            Assert.Equal([retried], await IdsAsync(database, "deleted since"));
            Assert.Equal(0L, await ScalarAsync(database, "SELECT count(*) FROM retry_keys"));
        }
        finally
        {
            await store.CloseAsync();
        }
    }

    private static async Task WaitForRetryKeyAsync(string database, Microsoft.Extensions.Time.Testing.FakeTimeProvider clock)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            clock.Advance(PostgresStoreWriter.PublishInterval);
            if (await ScalarAsync(database, "SELECT count(*) FROM retry_keys") > 0)
            {
                return;
            }

            await Task.Delay(50, Ct);
        }

        Assert.Fail("the uncertain message was never published to retry_keys");
    }

    private static async Task<long> ScalarAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(database) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    private static async Task ExecuteAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(database) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }

    [Fact]
    public async Task AnUncertainMessageThatTurnsOutRolledBackIsStoredWhenRetried()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var proxy = PostgresCommitProxy.Start(database);
        var store = PostgresCatcherStore.Open(proxy.ConnectionString, new StoreRetention(0, null, 0), TimeProvider.System, null, resolveTimeout: TimeSpan.Zero);
        try
        {
            await StoreAsync(store, Record("before"));
            proxy.DropNextCommit(thenRefuse: true);

            await Assert.ThrowsAsync<StoreUnavailableException>(() => StoreAsync(store, Record("rolled back")));

            await NoTransactionLeftOpenAsync(database);
            Assert.Empty(await IdsAsync(database, "rolled back"));
            proxy.Refusing = false;
            var retried = await StoreAsync(store, Record("rolled back"));
            Assert.Equal([retried], await IdsAsync(database, "rolled back"));
        }
        finally
        {
            await store.CloseAsync();
        }
    }

    [Fact]
    public async Task AMailKitClientWhoseCommitReplyWasLostGets250AndTheMessageIsListedOnce()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var proxy = PostgresCommitProxy.Start(database);
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.DatabasePath = null;
            o.DatabaseConnectionString = proxy.ConnectionString;
        });
        await host.SendSimpleAsync("warm-up");
        proxy.LoseNextCommitReply();

        var id = await host.SendSimpleAsync("reply lost");

        Assert.True(proxy.Dropped.IsCompleted, "the proxy never dropped a COMMIT's reply");
        var listed = await host.GetJsonAsync("/api/v1/search?query=subject:%22reply%20lost%22");
        var message = Assert.Single(listed.GetProperty("messages").EnumerateArray());
        Assert.Equal(id, message.GetProperty("ID").GetString());
        Assert.Equal([long.Parse(id, System.Globalization.CultureInfo.InvariantCulture)], await IdsAsync(database, "reply lost"));
    }
}
