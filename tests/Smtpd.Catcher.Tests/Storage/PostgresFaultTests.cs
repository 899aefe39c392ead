using System.Collections.Concurrent;
using MailKit.Net.Smtp;
using Npgsql;
using Smtpd.Catcher.Tests.Http;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The catcher on a PostgreSQL server that goes away or stalls, with real clients: a 250 is said only after the
/// COMMIT, an outage gives 451 4.3.0 and ends by itself when the server is back, and no accepted message is lost or
/// stored twice.
/// </summary>
public sealed class PostgresFaultTests
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(60);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RestartingPostgresUnderLoadGives451ThenRecoversAndKeepsEvery250dMessageExactlyOnce()
    {
        await using var cluster = await PostgresCluster.StartAsync();
        var database = cluster.ConnectionString;
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.DatabasePath = null;
            o.DatabaseConnectionString = database;
        });
        var accepted = new ConcurrentDictionary<string, string>();
        var refused = new ConcurrentBag<string>();
        var sent = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        async Task SendLoopAsync(int sender)
        {
            while (!stop.IsCancellationRequested)
            {
                var subject = $"load {sender}-{Interlocked.Increment(ref sent)}";
                try
                {
                    accepted[subject] = await host.SendSimpleAsync(subject);
                }
                catch (SmtpCommandException ex) when ((int)ex.StatusCode == 451)
                {
                    refused.Add(ex.Message);
                }
            }
        }

        var senders = Enumerable.Range(0, 4).Select(i => Task.Run(() => SendLoopAsync(i))).ToArray();
        await WaitUntilAsync(() => accepted.Count >= 20);
        await cluster.StopAsync();
        // Sessions go on while the server is down: each one's DATA ends in 451, none hangs.
        await WaitUntilAsync(() => refused.Count >= 5);
        var acceptedDuringOutage = accepted.Count;
        await cluster.StartAgainAsync();
        // No restart of the catcher: the next group opens a fresh connection.
        await WaitUntilAsync(() => accepted.Count >= acceptedDuringOutage + 20);
        await stop.CancelAsync();
        await Task.WhenAll(senders);

        Assert.All(refused, message => Assert.StartsWith("4.3.0 ", message, StringComparison.Ordinal));
        var listed = await host.GetJsonAsync($"/api/v1/messages?limit={accepted.Count + refused.Count + 10}");
        var stored = listed.GetProperty("messages").EnumerateArray().Select(m => (Id: m.GetProperty("ID").GetString()!, Subject: m.GetProperty("Subject").GetString()!)).ToList();
        // Once each: no subject twice (a 451 the client may retry is a new message, never a second copy of this one).
        Assert.Equal(stored.Count, stored.Select(m => m.Subject).Distinct().Count());
        var bySubject = stored.ToDictionary(m => m.Subject, m => m.Id);
        foreach (var (subject, id) in accepted)
        {
            Assert.True(bySubject.TryGetValue(subject, out var storedId), $"250 for \"{subject}\" (id {id}) but it is not stored");
            Assert.Equal(id, storedId);
        }
    }

    [Fact]
    public async Task WhileATableLockStallsTheCommitTheClientGetsNoReplyAndThe250OnlyAfterIt()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.DatabasePath = null;
            o.DatabaseConnectionString = database;
        });
        await host.SendSimpleAsync("before the lock");

        await using var locker = new NpgsqlConnection(database);
        await locker.OpenAsync(Ct);
        await using var transaction = await locker.BeginTransactionAsync(Ct);
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE messages IN EXCLUSIVE MODE", locker, transaction))
        {
            await lockTable.ExecuteNonQueryAsync(Ct);
        }

        var send = host.SendSimpleAsync("behind the lock");
        // The writer's INSERT is seen waiting for the lock: from here the message cannot commit, so no 250 may come.
        await WaitUntilAsync(() => WaitingForLock(database));
        Assert.False(send.IsCompleted, "the client had its reply while the INSERT waited for the lock");
        Assert.Equal(["before the lock"], await SubjectsAsync(database));

        await transaction.CommitAsync(Ct);
        var id = await send.WaitAsync(Bounded, Ct);

        // The 250 came after the COMMIT: another connection sees the message the moment the client has its id.
        Assert.Equal(["before the lock", "behind the lock"], await SubjectsAsync(database));
        Assert.Equal("behind the lock", (await host.GetJsonAsync($"/api/v1/message/{id}")).GetProperty("Subject").GetString());
    }

    private static bool WaitingForLock(string database)
    {
        using var connection = new NpgsqlConnection(database);
        connection.Open();
        using var command = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO messages%'", connection);
        return (long)command.ExecuteScalar()! > 0;
    }

    private static async Task<List<string>> SubjectsAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT subject FROM messages ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var subjects = new List<string>();
        while (await reader.ReadAsync(Ct))
        {
            subjects.Add(reader.GetString(0));
        }

        return subjects;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(Bounded);
        while (!condition())
        {
            await Task.Delay(20, timeout.Token);
        }
    }
}
