using Microsoft.Win32.SafeHandles;

namespace Smtpd.Catcher.Storage;

/// <summary>Makes everything written to the store's write-ahead log so far durable: the seam tests replace.</summary>
internal interface IWalSync : IDisposable
{
    /// <summary>Flushes the WAL file to stable storage; returns only once it is there, or throws.</summary>
    void Sync();
}

/// <summary>
/// <see cref="IWalSync"/> on the real <c>-wal</c> file: one handle, opened at the first sync and kept until the store
/// closes, flushed with <c>fsync</c> (<see cref="RandomAccess.FlushToDisk"/>).
/// </summary>
/// <remarks>
/// <para>
/// Why one handle for the store's lifetime, not one per sync: Linux reports a write-back error to every file
/// description that was open when it happened, once each (errseq, since 4.13). A handle opened after the error would
/// not see an error that SQLite's own descriptor had already consumed (at a checkpoint), and its fsync would succeed
/// over lost pages. The long-lived handle sees every error from its opening on.
/// </para>
/// <para>
/// Why the handle stays the file SQLite writes: SQLite deletes the WAL only when the last connection to the database
/// closes (sqlite.org/wal.html, "Persistence of WAL mode"), and the writer's connection is open from before the first
/// sync to after the last. Otherwise the file keeps its inode: a WAL reset after a checkpoint writes a new header and
/// new frames from offset 0 of the same file, and <c>journal_size_limit</c> or a TRUNCATE checkpoint shrink it with
/// <c>ftruncate</c>. A WAL deleted by hand under a running writer is lost to SQLite's own descriptor as well.
/// </para>
/// </remarks>
/// <param name="walPath">The WAL file: the database path followed by <c>-wal</c>.</param>
internal sealed class WalFileSync(string walPath) : IWalSync
{
    private SafeFileHandle? _handle;

    /// <inheritdoc/>
    public void Sync()
    {
        // Opened only for the fsync (Linux syncs the inode, whichever descriptor wrote the pages); FileMode.Open
        // because SQLite creates the file, and never a new empty one beside a WAL it has not yet written.
        _handle ??= File.OpenHandle(walPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        RandomAccess.FlushToDisk(_handle);
    }

    /// <inheritdoc/>
    public void Dispose() => _handle?.Dispose();
}

/// <summary>
/// The second half of the store's group commit: the writer commits each group with <c>synchronous=NORMAL</c> (no
/// fsync) and hands it here; this thread fsyncs the WAL and only then releases the group's sessions (their 250) and,
/// through them, the <c>new</c> events. While it syncs, the writer commits the next group; one fsync covers every
/// group committed before it began, however many.
/// </summary>
/// <remarks>
/// <para>
/// Why this is exactly <c>synchronous=FULL</c> on disk: in WAL mode, FULL is NORMAL plus a sync of the WAL file after
/// each commit (sqlite.org/pragma.html#pragma_synchronous: "FULL ... the WAL file is synchronized before each
/// transaction commit"; NORMAL: "the WAL file is synchronized before each checkpoint and the database file is
/// synchronized after each completed checkpoint and the WAL file header is synchronized when a WAL file begins to be
/// reused after a checkpoint"). Everything else NORMAL does is what FULL does: checkpoints sync the WAL before
/// copying and the database after; a WAL reset syncs its new header before frames follow it. Here the sync after the
/// commit is made by this thread instead, and no session hears 250 before a sync that began after its group's COMMIT
/// returned has succeeded: the fsync covers every byte written to the file before it was called.
/// </para>
/// <para>
/// A crash before that sync may lose the group, as with FULL a crash before the COMMIT returned: WAL frames carry
/// cumulative checksums, so recovery keeps a prefix of the commits and never a later one without an earlier one.
/// What differs is visibility: readers (the HTTP API) may see a group for the few milliseconds between its COMMIT
/// and its sync, which FULL does not allow; a crash then loses messages someone saw but no client was told were
/// stored, and the client sends them again.
/// </para>
/// <para>
/// A failed sync is final, as PostgreSQL treats it (a PANIC since 2018): after a failed fsync Linux may have dropped
/// the dirty pages, so what is on disk is unknown and a later fsync that succeeds proves nothing about them. Every
/// group not yet released fails (its sessions answer 451, never 250), every later one fails at once, and the writer
/// stops taking mail (<see cref="Failure"/>). The rows of those groups stay visible to readers until the catcher
/// restarts; after a restart SQLite's recovery keeps whichever prefix of them reached the disk, so a message that got
/// 451 may also be stored, as it may after a failed COMMIT with FULL.
/// </para>
/// </remarks>
internal sealed class WalFlusher
{
    private readonly IWalSync _sync;
    private readonly Action<IReadOnlyList<CommittedGroup>> _release;
    // Monitor, not System.Threading.Lock: the thread waits on it for work (Monitor.Wait).
    private readonly object _gate = new();
    private readonly Thread _thread;
    private List<CommittedGroup> _pending = [];
    private List<CommittedGroup> _taken = [];
    private bool _completed;
    private Exception? _failure;

    /// <summary>Starts the flusher's thread.</summary>
    /// <param name="sync">Makes the WAL durable.</param>
    /// <param name="release">Answers the sessions of groups, in commit order; called on the flusher's thread, must not block.</param>
    public WalFlusher(IWalSync sync, Action<IReadOnlyList<CommittedGroup>> release)
    {
        _sync = sync;
        _release = release;
        _thread = new Thread(Run) { Name = "smtpd store flusher", IsBackground = true };
        _thread.Start();
    }

    /// <summary>The error of the sync that failed, after which no group is released as stored; <see langword="null"/> while every sync succeeded.</summary>
    public Exception? Failure
    {
        get
        {
            lock (_gate)
            {
                return _failure;
            }
        }
    }

    /// <summary>Hands over a group whose transaction has ended (committed, or rolled back with its failures set).</summary>
    /// <param name="group">The group.</param>
    public void Enqueue(CommittedGroup group)
    {
        lock (_gate)
        {
            _pending.Add(group);
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Syncs and releases whatever is handed over, then stops the thread; returns once it has.</summary>
    public void Complete()
    {
        lock (_gate)
        {
            _completed = true;
            Monitor.Pulse(_gate);
        }

        _thread.Join();
    }

    /// <summary>Makes the WAL durable now, on the caller's thread (the store's opening, before the thread has work).</summary>
    public void SyncNow() => _sync.Sync();

    private void Run()
    {
        while (true)
        {
            Exception? failure;
            lock (_gate)
            {
                while (_pending.Count == 0 && !_completed)
                {
                    Monitor.Wait(_gate);
                }

                if (_pending.Count == 0)
                {
                    return;
                }

                // Every group taken now was committed before the sync below begins: one sync covers them all.
                (_pending, _taken) = (_taken, _pending);
                failure = _failure;
            }

            if (failure is null && _taken.Exists(static g => g.Committed))
            {
                try
                {
                    _sync.Sync();
                }
                catch (Exception ex)
                {
                    failure = new IOException("The store's write-ahead log could not be made durable; no message is accepted until the catcher restarts.", ex);
                    lock (_gate)
                    {
                        _failure = failure;
                    }
                }
            }

            if (failure is not null)
            {
                foreach (var group in _taken)
                {
                    group.Fail(failure);
                }
            }

            _release([.. _taken]);
            _taken.Clear();
        }
    }
}

/// <summary>A group whose transaction has ended, waiting for the sync that makes it durable before its sessions hear.</summary>
/// <param name="Messages">The group's messages, in commit order.</param>
/// <param name="Ids">The id each message got (where it did not fail).</param>
/// <param name="Failures">Why each message failed, or <see langword="null"/> where it was stored.</param>
/// <param name="Pruned">What the same transaction pruned by retention, if anything.</param>
/// <param name="Committed">Whether the transaction committed (a rolled-back group needs no sync).</param>
internal sealed record CommittedGroup(StoreWriter.PendingMessage[] Messages, long[] Ids, Exception?[] Failures, StorePruned? Pruned, bool Committed)
{
    /// <summary>What the same transaction pruned, to be announced with the release; cleared when the group fails.</summary>
    public StorePruned? Pruned { get; private set; } = Pruned;

    /// <summary>Fails every message of the group: its commit is not known to be durable.</summary>
    /// <param name="failure">The reason each session is given.</param>
    public void Fail(Exception failure)
    {
        Array.Fill(Failures, failure);
        // A prune that is not durable may be undone by a crash: not announced, like the messages.
        Pruned = null;
    }
}
