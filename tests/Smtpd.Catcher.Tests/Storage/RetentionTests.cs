using System.Net;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>Retention by count, age and size: oldest first, in batches, in the message's transaction, with a prune event.</summary>
public sealed class RetentionTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly string _directory = Directory.CreateTempSubdirectory("smtpd-retention-").FullName;

    private string Database => Path.Combine(_directory, "store.db");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void RetainAgeDefaultsToAnyAgeAndRefusesLessThanAMinute()
    {
        var options = new CatcherOptions();
        Assert.Null(options.RetainAge);
        options.RetainAge = TimeSpan.FromDays(7);
        Assert.Equal(TimeSpan.FromDays(7), options.RetainAge);
        options.RetainAge = CatcherOptions.MinimumRetainAge;
        options.RetainAge = null;
        Assert.Null(options.RetainAge);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.RetainAge = TimeSpan.FromSeconds(59));
        Assert.Throws<ArgumentOutOfRangeException>(() => options.RetainAge = TimeSpan.Zero);
    }

    [Fact]
    public void RetainSizeDefaultsToNoLimitAndRefusesANegativeSize()
    {
        var options = new CatcherOptions();
        Assert.Equal(0, options.RetainSize);
        options.RetainSize = 2L << 30;
        Assert.Equal(2L << 30, options.RetainSize);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.RetainSize = -1);
    }

    [Fact]
    public async Task MessagesOlderThanTheAgeArePrunedByTheMinuteCheckWithoutNewMail()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var catcher = Start(o => o.RetainAge = TimeSpan.FromDays(7), time);
        var events = new List<string>();
        catcher.Events.Published += e => { lock (events) { events.Add(e.Type); } };
        var pruned = new TaskCompletionSource<StorePruned>(TaskCreationOptions.RunContinuationsAsynchronously);
        catcher.MessagesPruned += p => pruned.TrySetResult(p);

        var aging = await StoreAsync(catcher, "aging", time.GetUtcNow() - TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        var fresh = await StoreAsync(catcher, "fresh", time.GetUtcNow() - TimeSpan.FromDays(1));
        Assert.Equal([fresh, aging], Ids());
        Assert.False(pruned.Task.IsCompleted);

        // Two minutes on, the first message is past seven days; the minute check prunes it with no mail arriving.
        time.Advance(TimeSpan.FromMinutes(2));
        var prune = await pruned.Task.WaitAsync(Bound, Ct);
        Assert.Equal(new StorePruned(1, prune.Bytes, aging, aging), prune);
        Assert.Equal([fresh], Ids());
        lock (events)
        {
            Assert.Contains("prune", events);
        }
    }

    [Fact]
    public async Task AMessageAlreadyPastTheAgeGoesInTheTransactionThatStoresTheNextOne()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var catcher = Start(o => o.RetainAge = TimeSpan.FromHours(1), time);
        var old = await StoreAsync(catcher, "old", time.GetUtcNow() - TimeSpan.FromHours(2));
        var recent = await StoreAsync(catcher, "recent", time.GetUtcNow());
        // The first message's own commit already pruned it: nothing waits for a timer.
        Assert.Equal([recent], Ids());
        Assert.NotEqual(old, recent);
    }

    [Fact]
    public async Task RetentionBySizeKeepsTheNewestMessagesThatFit()
    {
        var content = Content("x", 1000);
        await using var catcher = Start(o => o.RetainSize = (3 * content.Length) + 10, TimeProvider.System);
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await StoreAsync(catcher, "x", DateTimeOffset.UtcNow, 1000));
        }

        Assert.Equal(ids[^3..].AsEnumerable().Reverse(), Ids());
        Assert.Equal(3L * content.Length, Scalar("SELECT sum(size) FROM messages"));
        Assert.Equal(0L, Scalar($"SELECT count(*) FROM message_chunks WHERE message_id < {ids[^3]}"));
        Assert.Equal(0L, Scalar($"SELECT count(*) FROM message_headers WHERE message_id < {ids[^3]}"));
    }

    [Fact]
    public async Task AStoreReopenedWithASmallerRetentionIsPrunedOldestFirstInBatchesBeforeItTakesMail()
    {
        const int stored = StoreWriter.PruneBatch + 1500;
        await using (var filling = Start(o => o.Retain = 0, TimeProvider.System))
        {
            await Task.WhenAll(Enumerable.Range(0, stored).Select(i => StoreAsync(filling, "m" + i, DateTimeOffset.UtcNow)));
        }

        var batches = new List<StorePruned>();
        await using (var reopened = Start(o => o.Retain = 10, TimeProvider.System, pruned => batches.Add(pruned)))
        {
            // Start returned: the prune is done, in transactions of at most PruneBatch messages, oldest first.
            Assert.Equal(10, Ids().Length);
            Assert.Equal([StoreWriter.PruneBatch, StoreWriter.PruneBatch, stored - 10 - (2 * StoreWriter.PruneBatch)], batches.Select(b => b.Messages));
            Assert.Equal(1, batches[0].FirstId);
            Assert.Equal(batches[0].LastId + 1, batches[1].FirstId);
            Assert.Equal(stored - 10, batches[^1].LastId);
        }
    }

    private MailCatcher Start(Action<CatcherOptions> configure, TimeProvider time, Action<StorePruned>? onPruned = null)
    {
        var options = new CatcherOptions { DatabasePath = Database };
        options.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));
        configure(options);
        var catcher = new MailCatcher(options, null, time);
        if (onPruned is not null)
        {
            catcher.MessagesPruned += onPruned;
        }

        catcher.Start();
        return catcher;
    }

    private static byte[] Content(string subject, int bodyLength) =>
        Encoding.ASCII.GetBytes($"From: a@example.com\r\nTo: b@example.com\r\nSubject: {subject}\r\n\r\n{new string('b', bodyLength)}\r\n");

    private static Task<long> StoreAsync(MailCatcher catcher, string subject, DateTimeOffset receivedAt, int bodyLength = 10) =>
        catcher.StoreLocalAsync(Content(subject, bodyLength), new MessageRecord
        {
            ReceivedAt = receivedAt,
            MailFrom = "a@example.com",
            Recipients = ["b@example.com"],
            Client = "127.0.0.1:1",
            Size = 0,
            Sha256 = string.Empty,
        });

    private long[] Ids()
    {
        using var store = MessageStore.Open(Database, readOnly: true);
        return [.. store.List(new MessageFilter()).Select(m => m.Id)];
    }

    private object? Scalar(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
