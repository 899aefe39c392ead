using System.Text;
using Npgsql;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Storage.Postgres;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The PostgreSQL store's counts (schema migration 4: <c>message_counts</c>, kept by triggers, and the per-search
/// count cache): what only PostgreSQL has, two instances and concurrent writers on one database, a database upgraded
/// in place, and the deltas folded. What both backends share is in <see cref="StoreBehaviourTests"/>.
/// </summary>
public sealed class PostgresCountsTests
{
    private static Task<long> Store(ICatcherStore store, string subject)
    {
        var content = Encoding.ASCII.GetBytes("Subject: " + subject + "\r\n\r\nHello\r\n");
        var record = TestRecords.Minimal(subject, content) with { HeaderFrom = "Alice <alice@example.com>", HeaderTo = "Bob <bob@example.com>", SearchBody = "hello " + subject };
        return TestRecords.StoreAsync(store, record, content);
    }

    [Fact]
    public async Task TwoInstancesWritingAtOnceLeaveBothWithExactCountsAndSearchCounts()
    {
        await using var test = await StoreBackend.OpenAsync("postgres");
        using var second = PostgresCatcherStore.Open(test.ConnectionString!, new StoreRetention(0, null, 0), TimeProvider.System, null);
        using var first = test.Store.Open();
        using var other = second.Open();
        // Counted once before the writes, so each instance holds a search count the writes must move.
        foreach (var reader in new[] { first, other })
        {
            StoreBehaviourTests.AssertPageCountsMatchTheMessages(test.Store, reader, "subject:even", "before");
        }

        // Both instances' writers at once: ids are taken at insert and commit out of order, which is what the
        // cache's "only gained" check must notice.
        var stored = await Task.WhenAll(Enumerable.Range(0, 120).Select(i => Task.Run(() => Store(i % 2 == 0 ? test.Store : second, i % 3 == 0 ? $"even {i}" : $"odd {i}"), TestContext.Current.CancellationToken)));
        // Read flags and deletes through both instances, also at once.
        await Task.WhenAll(
            Task.Run(() => { using var r = test.Store.Open(); r.SetRead([.. stored.Where((_, i) => i % 4 == 0)], true); }, TestContext.Current.CancellationToken),
            Task.Run(() => { using var r = second.Open(); r.Delete([.. stored.Where((_, i) => i % 5 == 0)]); }, TestContext.Current.CancellationToken),
            Task.Run(() => { using var r = second.Open(); r.SetTags([.. stored.Where((_, i) => i % 7 == 0)], ["later"]); }, TestContext.Current.CancellationToken));

        foreach (var reader in new[] { first, other })
        {
            foreach (var search in new[] { null, "subject:even", "is:unread", "tag:later" })
            {
                StoreBehaviourTests.AssertPageCountsMatchTheMessages(test.Store, reader, search, "after both wrote");
            }
        }

        await second.CloseAsync();
    }

    [Fact]
    public async Task NewMessagesAddOnlyTheirOwnCountsToASearchCountedBefore()
    {
        await using var test = await StoreBackend.OpenAsync("postgres");
        using var reader = test.Store.Open();
        for (var i = 0; i < 6; i++)
        {
            await Store(test.Store, i % 2 == 0 ? $"even {i}" : $"odd {i}");
        }

        StoreBehaviourTests.AssertPageCountsMatchTheMessages(test.Store, reader, "subject:even", "first count");
        // A row the cache would not see if it counted only what the newest id says: inserted below the newest id
        // after the count, as a slower writer's transaction commits (the identity hands out ids at insert).
        using (var connection = new NpgsqlConnection(test.ConnectionString))
        {
            await connection.OpenAsync(TestContext.Current.CancellationToken);
            var newest = reader.AllIds()[^1];
            PostgresSchema.Execute(connection, "DELETE FROM messages WHERE id = " + (newest - 1));
            StoreBehaviourTests.AssertPageCountsMatchTheMessages(test.Store, reader, "subject:even", "one deleted");
            PostgresSchema.Execute(connection, $"""
                INSERT INTO messages (id, received_at, mail_from, rcpt_to, rcpt_text, client, tls, size, sha256, subject, has_attachments, search)
                VALUES ({newest - 1}, now(), 'a@example.com', ARRAY['b@example.com'], 'b@example.com', '127.0.0.1:1', false, 5, 'x', 'even again', false, ''::tsvector)
                """);
        }

        StoreBehaviourTests.AssertPageCountsMatchTheMessages(test.Store, reader, "subject:even", "one inserted below the newest id");
        await Store(test.Store, "even 7");
        StoreBehaviourTests.AssertPageCountsMatchTheMessages(test.Store, reader, "subject:even", "one more stored");
    }

    [Fact]
    public async Task ADatabaseAtTheVersionBeforeCountsUpgradesInPlaceWithItsMessagesCounted()
    {
        var connectionString = await StoreBackend.CreateDatabaseAsync();
        // Version 3, the last before message_counts (migration 4).
        const int previousVersion = 3;
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync(TestContext.Current.CancellationToken);
            // The schema as the previous smtpd left it: its migrations only, and messages it stored (one read).
            PostgresSchema.Execute(connection, "CREATE TABLE smtpd_schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now(), note text)");
            for (var version = 1; version <= previousVersion; version++)
            {
                PostgresSchema.Execute(connection, $"INSERT INTO smtpd_schema_version (version) VALUES ({version})");
                PostgresSchema.Execute(connection, PostgresSchema.Migrations[version - 1]);
            }

            PostgresSchema.Execute(connection, """
                INSERT INTO messages (received_at, mail_from, rcpt_to, rcpt_text, client, tls, size, sha256, subject, has_attachments, search, is_read)
                SELECT now(), 'a@example.com', ARRAY['b@example.com'], 'b@example.com', '127.0.0.1:1', false, 5, 'x', 'old ' || g, false, ''::tsvector, g = 1
                FROM generate_series(1, 3) AS g
                """);
        }

        using var store = PostgresCatcherStore.Open(connectionString, new StoreRetention(0, null, 0), TimeProvider.System, null);
        using (var reader = store.Open())
        {
            var page = reader.Page(null, 0, 10);
            Assert.Equal((3L, 2L), (page.Total, page.Unread));
        }

        await Store(store, "new");
        using (var reader = store.Open())
        {
            StoreBehaviourTests.AssertPageCountsMatchTheMessages(store, reader, null, "a message stored after the upgrade");
            StoreBehaviourTests.AssertPageCountsMatchTheMessages(store, reader, "subject:old", "a message stored after the upgrade");
        }

        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync(TestContext.Current.CancellationToken);
            Assert.Equal(PostgresSchema.Version, Convert.ToInt32(PostgresSchema.Scalar(connection, "SELECT max(version) FROM smtpd_schema_version"), System.Globalization.CultureInfo.InvariantCulture));
        }

        await store.CloseAsync();
    }

    [Fact]
    public async Task APageThatFailsLeavesItsConnectionOutOfTheTransactionAndUsable()
    {
        await using var test = await StoreBackend.OpenAsync("postgres");
        await Store(test.Store, "one");
        using var reader = test.Store.Open();
        // An expression the server rejects after BEGIN has run: the page's transaction must not outlive the error.
        var broken = new CompiledQuery("messages.no_such_column", new Dictionary<string, object?>(StringComparer.Ordinal));

        Assert.Throws<PostgresException>(() => reader.Page(broken, 0, 10));
        StoreBehaviourTests.AssertPageCountsMatchTheMessages(test.Store, reader, "subject:one", "after a failed page");
        Assert.Equal(1, reader.Page(null, 0, 10).Total);
    }

    [Fact]
    public async Task ManyWritingTransactionsAreFoldedIntoOneRowWithTheSameCounts()
    {
        await using var test = await StoreBackend.OpenAsync("postgres");
        var id = await Store(test.Store, "folded");
        await Store(test.Store, "kept unread");
        using var reader = test.Store.Open();
        // Each statement outside a transaction is a transaction of its own, hence a row of deltas of its own.
        for (var i = 0; i <= PostgresMessageStore.FoldAbove; i++)
        {
            reader.SetRead([id], i % 2 == 0);
        }

        await using var connection = new NpgsqlConnection(test.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        Assert.True(Convert.ToInt64(PostgresSchema.Scalar(connection, "SELECT count(*) FROM message_counts"), System.Globalization.CultureInfo.InvariantCulture) > PostgresMessageStore.FoldAbove);
        var page = reader.Page(null, 0, 10);

        Assert.Equal((2L, 1L), (page.Total, page.Unread));
        Assert.Equal(1L, PostgresSchema.Scalar(connection, "SELECT count(*) FROM message_counts"));
        StoreBehaviourTests.AssertPageCountsMatchTheMessages(test.Store, reader, null, "folded");
    }

    [Fact]
    public async Task AWriterNoOneReadsKeepsTheCountDeltasFoldedAndTheCountsRight()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var dataSource = NpgsqlDataSource.Create(database);
        await using (var connection = await dataSource.OpenConnectionAsync(TestContext.Current.CancellationToken))
        {
            PostgresSchema.Migrate(connection);
        }

        // The writer alone: no HTTP reader ever folds message_counts.
        var writer = new PostgresStoreWriter(dataSource, new StoreRetention(0, null, 0), TimeProvider.System, null, "test");
        const int Groups = (2 * PostgresStoreWriter.FoldEvery) + 50;
        try
        {
            for (var i = 0; i < Groups; i++)
            {
                // One at a time: each message is a group, a transaction and a row of deltas.
                var content = Encoding.ASCII.GetBytes($"Subject: {i}\r\n\r\nHello\r\n");
                await writer.StoreAsync(TestRecords.Minimal($"{i}", content), content, () => new MemoryStream(content));
            }
        }
        finally
        {
            await writer.CloseAsync();
        }

        await using var command = dataSource.CreateCommand("SELECT count(*), sum(total)::bigint, sum(unread)::bigint, (SELECT count(*) FROM messages) FROM message_counts");
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        Assert.True(await reader.ReadAsync(TestContext.Current.CancellationToken));
        Assert.InRange(reader.GetInt64(0), 1, PostgresStoreWriter.FoldEvery + 1);
        Assert.Equal(Groups, reader.GetInt64(3));
        Assert.Equal(Groups, reader.GetInt64(1));
        Assert.Equal(Groups, reader.GetInt64(2));
    }
}
