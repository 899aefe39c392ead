using System.Text;
using Microsoft.Data.Sqlite;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The pipelined sync of the SQLite store (<see cref="WalFlusher"/>): the writer commits groups while the last one is
/// synced, no message is answered before a sync that began after its commit has succeeded, and a failed sync
/// answers no message as stored, then or later.
/// </summary>
public sealed class WalFlusherTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly SqliteStoreDirectory _store = new("smtpd-flusher-");

    private string Database => _store.Database;

    public void Dispose() => _store.Dispose();

    [Fact]
    public async Task NoMessageIsAnsweredBeforeASyncThatBeganAfterItsCommitSucceeds()
    {
        using var sync = new GatedSync();
        using var writer = new StoreWriter(Database, new StoreRetention(0, null, 0), TimeProvider.System, walSync: sync, pipelinedSync: true);
        var first = Store(writer, "first");
        await sync.WaitForSyncAsync(1);
        // Committed (another connection sees it) but not yet durable: not answered.
        Assert.Equal(1L, Scalar("SELECT count(*) FROM messages"));
        Assert.False(first.IsCompleted);

        // Committed while the first sync runs: that sync may not cover it.
        var second = Store(writer, "second");
        await WaitForRowsAsync(2);
        Assert.False(second.IsCompleted);

        sync.Allow();
        Assert.Equal("first", Scalar($"SELECT subject FROM messages WHERE id = {await first.WaitAsync(Patience, TestContext.Current.CancellationToken)}"));
        await sync.WaitForSyncAsync(2);
        Assert.False(second.IsCompleted);

        sync.Allow();
        Assert.Equal("second", Scalar($"SELECT subject FROM messages WHERE id = {await second.WaitAsync(Patience, TestContext.Current.CancellationToken)}"));
        sync.Open();
        await writer.CloseAsync();
    }

    [Fact]
    public async Task GroupsCommittedDuringOneSyncAreAllCoveredByTheNextOne()
    {
        using var sync = new GatedSync();
        using var writer = new StoreWriter(Database, new StoreRetention(0, null, 0), TimeProvider.System, walSync: sync, pipelinedSync: true);
        var first = Store(writer, "first");
        await sync.WaitForSyncAsync(1);
        // One at a time, each committed before the next is queued: ten groups while the first sync is held.
        var during = new List<Task<long>>();
        for (var i = 0; i < 10; i++)
        {
            during.Add(Store(writer, $"during {i}"));
            await WaitForRowsAsync(2 + i);
        }

        Assert.DoesNotContain(during, t => t.IsCompleted);
        sync.Open();
        await first.WaitAsync(Patience, TestContext.Current.CancellationToken);
        var ids = await Task.WhenAll(during).WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.Equal(10, ids.Distinct().Count());
        // The held sync, then one for all ten groups.
        Assert.Equal(2, sync.Calls);
        await writer.CloseAsync();
    }

    [Fact]
    public async Task AFailedSyncAnswersItsGroupAndEveryGroupCommittedDuringItWithAnErrorAndTheStoreTakesNoMoreMail()
    {
        using var sync = new GatedSync();
        using var writer = new StoreWriter(Database, new StoreRetention(0, null, 0), TimeProvider.System, walSync: sync, pipelinedSync: true);
        var first = Store(writer, "first");
        await sync.WaitForSyncAsync(1);
        var during = Store(writer, "during");
        await WaitForRowsAsync(2);

        // The held sync fails; the next one would succeed, as a second fsync after a lost write-back does on Linux.
        sync.FailNext(new IOException("EIO"));
        sync.Open();
        var failure = await Assert.ThrowsAsync<IOException>(() => first.WaitAsync(Patience, TestContext.Current.CancellationToken));
        Assert.IsType<IOException>(failure.InnerException);
        await Assert.ThrowsAsync<IOException>(() => during.WaitAsync(Patience, TestContext.Current.CancellationToken));
        // Nothing later is answered as stored either: the writer has stopped.
        await Assert.ThrowsAnyAsync<Exception>(() => Store(writer, "after").WaitAsync(Patience, TestContext.Current.CancellationToken));
        await Assert.ThrowsAnyAsync<Exception>(() => Store(writer, "later").WaitAsync(Patience, TestContext.Current.CancellationToken));
        Assert.Equal(1, sync.Calls);
    }

    [Fact]
    public async Task WithThePipelinedSyncOffTheWriterNeverCallsTheFlusherAndStillAnswersAfterItsCommit()
    {
        using var sync = new GatedSync();
        using var writer = new StoreWriter(Database, new StoreRetention(0, null, 0), TimeProvider.System, walSync: sync, pipelinedSync: false);
        var ids = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Store(writer, $"m{i}"))).WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.Equal(8L, Scalar($"SELECT count(*) FROM messages WHERE id IN ({string.Join(", ", ids)})"));
        Assert.Equal(0, sync.Calls);
        await writer.CloseAsync();
    }

    [Fact]
    public async Task TheRealWalSyncKeepsWorkingAcrossACheckpointThatTruncatesTheWal()
    {
        using var writer = new StoreWriter(Database, new StoreRetention(0, null, 0), TimeProvider.System, pipelinedSync: true);
        await Store(writer, "before").WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.True(new FileInfo(Database + "-wal").Length > 0);
        // Another connection checkpoints and truncates the WAL to nothing: the same file, reset in place.
        Assert.Equal(0L, Scalar("PRAGMA wal_checkpoint(TRUNCATE)"));
        Assert.Equal(0L, new FileInfo(Database + "-wal").Length);
        await Store(writer, "after").WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.True(new FileInfo(Database + "-wal").Length > 0);
        await writer.CloseAsync();
        Assert.Equal(2L, Scalar("SELECT count(*) FROM messages"));
    }

    [Fact]
    public async Task TheFirstCommitThatWritesRunsWithFullSyncAndOnlyLaterOnesLeaveTheSyncToTheFlusher()
    {
        // FULL's first sync of a WAL the connection created also syncs its directory; the flusher's fsync does not.
        using var writer = new StoreWriter(Database, new StoreRetention(0, null, 0), TimeProvider.System, pipelinedSync: true);
        Assert.False(writer.LeavesSyncToFlusher);
        await Store(writer, "first").WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.True(writer.LeavesSyncToFlusher);
        await writer.CloseAsync();
    }

    [Fact]
    public async Task AStoreOpenedThroughASymbolicLinkSyncsTheWalBesideTheRealFile()
    {
        // SQLite names its WAL after the file the link points to; a sync of "<link>-wal" would find no file, and
        // every message would then be refused.
        var real = Path.Combine(Directory.CreateDirectory(Path.Combine(_store.Directory, "real")).FullName, "store.db");
        var link = Path.Combine(_store.Directory, "link.db");
        using (var first = new StoreWriter(real, new StoreRetention(0, null, 0), TimeProvider.System, pipelinedSync: true))
        {
            await first.CloseAsync();
        }

        File.CreateSymbolicLink(link, real);
        using var writer = new StoreWriter(link, new StoreRetention(0, null, 0), TimeProvider.System, pipelinedSync: true);
        var id = await Store(writer, "through the link").WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.True(id > 0);
        Assert.True(File.Exists(real + "-wal"));
        Assert.False(File.Exists(link + "-wal"));
        await writer.CloseAsync();
    }

    [Fact]
    public async Task AWriterWhoseStartupPruneCannotSyncFailsToStartAndClosesItsConnection()
    {
        using (var writer = new StoreWriter(Database, new StoreRetention(0, null, 0), TimeProvider.System))
        {
            for (var i = 0; i < 3; i++)
            {
                await Store(writer, $"kept {i}");
            }
        }

        // Opened again keeping one: the startup prune commits, and its sync fails.
        using var sync = new GatedSync();
        sync.FailNext(new IOException("EIO"));
        sync.Open();
        var failure = Assert.Throws<IOException>(() => new StoreWriter(Database, new StoreRetention(1, null, 0), TimeProvider.System, walSync: sync, pipelinedSync: true));
        Assert.Equal("EIO", failure.Message);
        // The last connection to close checkpoints and deletes the WAL: a writer connection left open would keep it.
        Assert.False(File.Exists(Database + "-wal"));
        using var again = new StoreWriter(Database, new StoreRetention(0, null, 0), TimeProvider.System);
        await Store(again, "after");
    }

    private static Task<long> Store(StoreWriter writer, string subject)
    {
        var content = Encoding.ASCII.GetBytes($"From: a@example.com\r\nTo: b@example.com\r\nSubject: {subject}\r\n\r\nbody\r\n");
        var analyzed = MessageAnalyzer.AnalyzeLocal(content, new MessageRecord
        {
            ReceivedAt = DateTimeOffset.UtcNow,
            MailFrom = "a@example.com",
            Recipients = ["b@example.com"],
            Client = "127.0.0.1:1",
            Size = 0,
            Sha256 = string.Empty,
        });
        return writer.StoreAsync(analyzed.Record, analyzed.Content, () => new MemoryStream(content, writable: false));
    }

    /// <summary>Waits until another connection sees <paramref name="count"/> committed messages.</summary>
    private async Task WaitForRowsAsync(long count)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (Convert.ToInt64(Scalar("SELECT count(*) FROM messages"), System.Globalization.CultureInfo.InvariantCulture) < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"fewer than {count} messages committed");
            await Task.Delay(2, TestContext.Current.CancellationToken);
        }
    }

    private object? Scalar(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    /// <summary>A WAL sync that waits to be allowed through, one call at a time (or all, once opened), and can fail.</summary>
    private sealed class GatedSync : IWalSync
    {
        private readonly SemaphoreSlim _allowed = new(0);
        private readonly SemaphoreSlim _entered = new(0);
        private volatile bool _open;
        private Exception? _failNext;
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public void Sync()
        {
            Interlocked.Increment(ref _calls);
            _entered.Release();
            if (!_open)
            {
                // Bounded: a test that fails before it lets the sync through must not hang the writer's close.
                _allowed.Wait(Patience);
            }

            if (Interlocked.Exchange(ref _failNext, null) is { } failure)
            {
                throw failure;
            }
        }

        /// <summary>Waits until the <paramref name="call"/>th sync has begun.</summary>
        public async Task WaitForSyncAsync(int call)
        {
            while (Calls < call)
            {
                Assert.True(await _entered.WaitAsync(Patience, TestContext.Current.CancellationToken), $"sync {call} never began");
            }
        }

        public void Allow() => _allowed.Release();

        public void FailNext(Exception failure) => _failNext = failure;

        /// <summary>Lets every waiting and later sync through.</summary>
        public void Open()
        {
            _open = true;
            _allowed.Release(100);
        }

        public void Dispose()
        {
            Open();
        }
    }
}
