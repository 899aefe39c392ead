using Npgsql;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Storage.Postgres;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The writer's settling of a retry remembered as uncertain, on a real PostgreSQL: a transaction id's "committed" is
/// believed only with the first copy's row there, so a failover that reused the xid, or an xid the server has not
/// reached, never answers 250 for a message that is not stored.
/// </summary>
public sealed class PostgresRetrySettlingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static (MessageRecord Record, byte[] Content) Message(string subject)
    {
        var content = System.Text.Encoding.UTF8.GetBytes($"Subject: {subject}\r\n\r\nHello\r\n");
        return (TestRecords.Minimal(subject, content), content);
    }

    private static Task<long> StoreAsync(PostgresStoreWriter writer, string subject)
    {
        var (record, content) = Message(subject);
        return writer.StoreAsync(record, content, () => new MemoryStream(content));
    }

    private static string KeyOf(string subject) => PostgresUncertainCommits.KeyOf(Message(subject).Record);

    /// <summary>A new database with the schema, and a writer on it with no reader beside it.</summary>
    private static async Task<(NpgsqlDataSource DataSource, PostgresStoreWriter Writer)> OpenAsync()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        var dataSource = NpgsqlDataSource.Create(database);
        await using (var connection = await dataSource.OpenConnectionAsync(Ct))
        {
            PostgresSchema.Migrate(connection);
        }

        return (dataSource, new PostgresStoreWriter(dataSource, new StoreRetention(0, null, 0), TimeProvider.System, null, "test", TimeSpan.Zero));
    }

    /// <summary>The id of a transaction that really committed: what txid_status says of a reused xid.</summary>
    private static async Task<long> CommittedTransactionAsync(NpgsqlDataSource dataSource)
    {
        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT txid_current()", connection, transaction);
        var xid = (long)(await command.ExecuteScalarAsync(Ct))!;
        await transaction.CommitAsync(Ct);
        return xid;
    }

    private static async Task<long> ScalarAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(Ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<List<long>> IdsAsync(NpgsqlDataSource dataSource, string subject)
    {
        await using var command = dataSource.CreateCommand("SELECT id FROM messages WHERE subject = $1 ORDER BY id");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = subject });
        var ids = new List<long>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    [Fact]
    public async Task ARetryWhoseRememberedTransactionReportsCommittedButWhoseRowDoesNotExistIsStored()
    {
        var (dataSource, writer) = await OpenAsync();
        await using var _ = dataSource;
        try
        {
            // A failover to a standby that never got the first attempt's commit: the new primary gave its xid to
            // another transaction, which committed; the id the first attempt was inserted with holds nothing.
            writer.Uncertain.Remember(KeyOf("lost in failover"), 424242, await CommittedTransactionAsync(dataSource));

            var retried = await StoreAsync(writer, "lost in failover");

            Assert.NotEqual(424242, retried);
            Assert.Equal([retried], await IdsAsync(dataSource, "lost in failover"));
            Assert.Equal(0, writer.Uncertain.Count);
            // Settled once: the same message again is a message of its own, and the first is listed once.
            var again = await StoreAsync(writer, "lost in failover");
            Assert.Equal([retried, again], await IdsAsync(dataSource, "lost in failover"));
        }
        finally
        {
            await writer.CloseAsync();
        }
    }

    [Fact]
    public async Task ARetryWhoseRememberedIdNowHoldsAnotherMessageIsStored()
    {
        var (dataSource, writer) = await OpenAsync();
        await using var _ = dataSource;
        try
        {
            // The new primary's sequence also fell behind: the remembered id is another message's.
            var other = await StoreAsync(writer, "someone else");
            writer.Uncertain.Remember(KeyOf("id reused"), other, await CommittedTransactionAsync(dataSource));

            var retried = await StoreAsync(writer, "id reused");

            Assert.NotEqual(other, retried);
            Assert.Equal([retried], await IdsAsync(dataSource, "id reused"));
            Assert.Equal([other], await IdsAsync(dataSource, "someone else"));
        }
        finally
        {
            await writer.CloseAsync();
        }
    }

    [Fact]
    public async Task AnXidBeyondTheServersNextOneDoesNotFailTheOtherRetriesOfItsGroup()
    {
        var (dataSource, writer) = await OpenAsync();
        await using var _ = dataSource;
        try
        {
            var first = await StoreAsync(writer, "committed first");
            var committed = await CommittedTransactionAsync(dataSource);
            // txid_status raises "transaction ID ... is in the future" for this one (a primary that lost transactions).
            var future = await ScalarAsync(dataSource, "SELECT txid_current() + 1000000");
            writer.Uncertain.Remember(KeyOf("committed first"), first, committed);
            writer.Uncertain.Remember(KeyOf("from the future"), 919191, future);

            // Queued together, so that (most likely) one group settles both.
            var retries = await Task.WhenAll(StoreAsync(writer, "committed first"), StoreAsync(writer, "from the future"));

            Assert.Equal(first, retries[0]);
            Assert.Equal([first], await IdsAsync(dataSource, "committed first"));
            Assert.Equal([retries[1]], await IdsAsync(dataSource, "from the future"));
            Assert.Equal(0, writer.Uncertain.Count);
        }
        finally
        {
            await writer.CloseAsync();
        }
    }

    [Fact]
    public async Task TwoIdenticalMessagesOfOneUncertainGroupAreTwoAttemptsEachSettledByItsOwnRow()
    {
        var (dataSource, writer) = await OpenAsync();
        await using var _ = dataSource;
        try
        {
            // Both copies committed (the client had sent the message twice); the first one's row was pruned since.
            var kept = await StoreAsync(writer, "twice");
            var committed = await CommittedTransactionAsync(dataSource);
            writer.Uncertain.Remember(KeyOf("twice"), 777777, committed);
            writer.Uncertain.Remember(KeyOf("twice"), kept, committed);
            Assert.Equal(2, writer.Uncertain.Count);

            var retries = await Task.WhenAll(StoreAsync(writer, "twice"), StoreAsync(writer, "twice"));

            // Whichever way the two retries were grouped: one is the kept copy's retry, the other is stored.
            Assert.Contains(kept, retries);
            var stored = Assert.Single(retries, id => id != kept);
            Assert.Equal([kept, stored], await IdsAsync(dataSource, "twice"));
            Assert.Equal(0, writer.Uncertain.Count);
        }
        finally
        {
            await writer.CloseAsync();
        }
    }
}
