using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Smtpd.Catcher.Storage;

/// <summary>
/// The one writer of the store. Sessions hand it their messages and wait; it takes whatever has queued up, writes
/// it all in one transaction and commits it (group commit); the <see cref="WalFlusher"/> then fsyncs the WAL and
/// releases every waiting session at once. A session's 250 therefore always follows a sync made after its commit,
/// concurrent sessions share the fsync, and the writer commits the next group while the last one is synced.
/// </summary>
/// <remarks>
/// Microsoft.Data.Sqlite is synchronous underneath, so the writer owns a dedicated thread instead of blocking the
/// thread pool that serves the sessions. Each message is written inside its own savepoint: a message whose
/// content cannot be read (its client vanished) is rolled back alone, without failing the others in its group.
/// </remarks>
internal sealed class StoreWriter : IDisposable
{
    /// <summary>The most messages in one transaction: enough to absorb a burst, small enough to bound latency.</summary>
    private const int MaxBatchMessages = 512;

    /// <summary>The most content in one transaction, so large messages commit without waiting for a crowd.</summary>
    private const long MaxBatchBytes = 64L * 1024 * 1024;

    /// <summary>
    /// The most messages one transaction prunes. Deleting a message touches its row, its chunks and five index
    /// tables; a thousand of them commit in tens of milliseconds, so a large prune (a store opened with a smaller
    /// retention, a week of mail aging out at once) runs as many short transactions between which queued messages
    /// are committed, and never holds a session's 250 for long.
    /// </summary>
    internal const int PruneBatch = 1000;

    /// <summary>
    /// A group smaller than this never waits for more (<see cref="GatherGroup"/>): one or two clients are not a
    /// crowd, and their commit must not wait for anyone.
    /// </summary>
    internal const int GatherMinimum = 4;

    /// <summary>
    /// The longest the writer waits for the sessions of the last group to come back with their next message before it
    /// commits what it has (<see cref="GatherGroup"/>): about a third of an fsync on the 2-core bench machine, so a
    /// wait that finds no one costs little against the commit it precedes.
    /// </summary>
    internal const int GatherMilliseconds = 1;

    /// <summary>
    /// The page cache of the writer's connection, in KiB (SQLite's negative <c>cache_size</c>). The default 2 MiB
    /// holds less than the index pages one group touches once the store has grown (two FTS5 indexes that merge
    /// segments, the headers index, the chunks), so the writer read them back from the WAL with a <c>pread</c> each;
    /// 16 MiB keeps them. It is one connection's memory, not the process's.
    /// </summary>
    private const int CacheKiB = 16 * 1024;

    /// <summary>How often the store checks for messages past <see cref="StoreRetention.Age"/> when no mail arrives.</summary>
    internal static readonly TimeSpan AgeCheckInterval = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The <see cref="AppContext"/> switch that turns the pipelined sync off when set to false (in the host's
    /// runtimeconfig.json): every COMMIT then syncs the WAL itself (<c>synchronous=FULL</c>) before the group is
    /// released, as before. Only for comparing the two in one build (docs/performance.md); the guarantee is the same.
    /// </summary>
    internal const string PipelinedSyncSwitch = "Smtpd.Catcher.Sqlite.PipelinedSync";

    private readonly Channel<WriterWork> _queue = Channel.CreateUnbounded<WriterWork>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SqliteConnection _connection;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly StoreRetention _retention;
    private readonly TimeProvider _time;
    private readonly ITimer? _ageTimer;
    private readonly Action<StorePruned>? _pruned;
    private readonly IWalSync? _walSync;
    private readonly WalFlusher? _flusher;
    /// <summary>The columns a new message fills, in the order <see cref="InsertRecord"/> sets them.</summary>
    private static readonly string[] InsertColumns =
    [
        "id", "received_at", "mail_from", "rcpt_to", "client", "helo", "tls", "tls_protocol", "auth_user", "size", "sha256",
        "subject", "header_from", "header_to", "header_date", "message_id", "has_attachments", "dsn_ret", "dsn_envid", "rcpt_dsn",
        "header_cc", "header_bcc", "header_reply_to", "attachments", "inline_parts", "snippet", "tls_cipher", "listener_port",
    ];

    private readonly SqliteCommand _insertMessage;
    private readonly SearchIndexWriter _index;
    private readonly SqliteCommand _insertChunk;
    private readonly SqliteCommand _insertMailbox;
    private readonly SqliteCommand _begin;
    private readonly SqliteCommand _commit;
    private readonly SqliteCommand _savepoint;
    private readonly SqliteCommand _release;
    private readonly SqliteCommand _rollbackToSavepoint;
    private readonly SqliteCommand _dataVersionCommand;
    /// <summary>
    /// Set when the group <see cref="GatherGroup"/> waits for is complete. Never disposed: a session may still set it
    /// while the store closes, and without a wait handle ever taken from it, it holds nothing to release.
    /// </summary>
    private readonly ManualResetEventSlim _arrived = new(false);
    private readonly byte[] _chunkBuffer = new byte[StoreSchema.ChunkSize];
    private long _count;
    private long _totalSize;
    private long _nextId;
    private long _dataVersion;
    private int _queued;
    private int _gatherTarget;
    private int _lastGroup;
    private bool _morePrune;
    private bool _normalSyncPending;

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/> and starts the writer thread.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="retention">Which messages to keep.</param>
    /// <param name="time">The clock retention by age reads.</param>
    /// <param name="pruned">
    /// Called after each commit that pruned messages by retention, on a thread-pool thread (never the writer's):
    /// the catcher turns it into its <c>prune</c> event. The prune at opening calls it before this returns.
    /// </param>
    /// <param name="walSync">
    /// Makes the WAL durable after each commit (tests inject one that blocks or fails); by default an fsync of the
    /// <c>-wal</c> file.
    /// </param>
    /// <param name="pipelinedSync">
    /// Whether commits are synced by the <see cref="WalFlusher"/>, overlapping the next group's writes (the default
    /// unless <see cref="PipelinedSyncSwitch"/> is false), or by SQLite inside each COMMIT.
    /// </param>
    public StoreWriter(string path, StoreRetention retention, TimeProvider time, Action<StorePruned>? pruned = null, IWalSync? walSync = null, bool? pipelinedSync = null)
    {
        Path = System.IO.Path.GetFullPath(path);
        _retention = retention;
        _time = time;
        _pruned = pruned;
        _connection = StoreSchema.OpenForWriting(Path);
        try
        {
            StoreSchema.Execute(_connection, $"PRAGMA cache_size = -{CacheKiB}");
            if (pipelinedSync ?? (!AppContext.TryGetSwitch(PipelinedSyncSwitch, out var pipelined) || pipelined))
            {
                // NORMAL: the COMMIT writes the WAL without syncing it; the flusher syncs it before anyone hears 250,
                // which makes it FULL on disk (WalFlusher's remarks argue it). Set per connection, on the writer's only,
                // and only after this writer's first commit that wrote something (SwitchToNormalSync): that commit runs
                // with FULL, whose first sync of a WAL file this connection created also syncs its directory (SQLite's
                // unix VFS), so a new WAL's name is durable before any 250 depends on it. Our own fsync covers the
                // file's contents only.
                _walSync = walSync ?? new WalFileSync(WalPath(_connection));
                _normalSyncPending = true;
            }
            _insertMessage = _connection.CreateCommand();
            _insertMessage.CommandText = $"INSERT INTO messages ({string.Join(", ", InsertColumns)}) VALUES ({string.Join(", ", InsertColumns.Select(c => "$" + c))})";
            foreach (var name in InsertColumns)
            {
                _insertMessage.Parameters.Add(new SqliteParameter("$" + name, null));
            }

            // The search index rows go in with the message, in its transaction (rowid = the message id).
            _index = new SearchIndexWriter(_connection);

            _insertChunk = _connection.CreateCommand();
            _insertChunk.CommandText = "INSERT INTO message_chunks (chunk_key, message_id, seq, data) VALUES ($chunk_key, $message_id, $seq, $data)";
            _insertChunk.Parameters.Add(new SqliteParameter("$chunk_key", null));
            _insertChunk.Parameters.Add(new SqliteParameter("$message_id", null));
            _insertChunk.Parameters.Add(new SqliteParameter("$seq", null));
            _insertChunk.Parameters.Add(new SqliteParameter("$data", null));

            _insertMailbox = _connection.CreateCommand();
            _insertMailbox.CommandText = "INSERT OR IGNORE INTO message_mailboxes (message_id, name) VALUES ($message_id, $name)";
            _insertMailbox.Parameters.Add(new SqliteParameter("$message_id", null));
            _insertMailbox.Parameters.Add(new SqliteParameter("$name", null));

            // Prepared once: at thousands of messages per second, preparing even BEGIN and COMMIT each time shows.
            _begin = Prepare("BEGIN IMMEDIATE");
            _commit = Prepare("COMMIT");
            _savepoint = Prepare("SAVEPOINT message");
            _release = Prepare("RELEASE message");
            _rollbackToSavepoint = Prepare("ROLLBACK TO message");
            // Read at the start of every group: prepared once like the others.
            _dataVersionCommand = Prepare("PRAGMA data_version");

            Recount();
            _dataVersion = DataVersion();
            // The writer is the only process that adds messages, so it numbers them itself (no RETURNING round trip);
            // AUTOINCREMENT's sqlite_sequence still guarantees that an id is never reused after a delete.
            _nextId = Convert.ToInt64(StoreSchema.Scalar(_connection, """
                SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0), coalesce((SELECT max(id) FROM messages), 0)) + 1
                """), System.Globalization.CultureInfo.InvariantCulture);
            // A store opened with a smaller retention is pruned before the first message is taken, one batch (one
            // short transaction) at a time, so the catcher never shows what it no longer keeps.
            while (!retention.IsUnlimited)
            {
                _begin.ExecuteNonQuery();
                var startup = PruneAll();
                _commit.ExecuteNonQuery();
                if (startup is null)
                {
                    break;
                }

                SwitchToNormalSync();

                // Announced only once durable, like every prune (the flusher's thread is not started yet).
                _walSync?.Sync();
                _pruned?.Invoke(startup);
                if (startup.Messages < PruneBatch && !_morePrune)
                {
                    break;
                }
            }
        }
        catch
        {
            // The catcher does not start (a store it cannot read, a startup prune whose sync failed), but a host that
            // tries again must not keep a writer connection, and the WAL it holds open, per failed attempt.
            CloseResources();
            throw;
        }

        if (_walSync is not null)
        {
            _flusher = new WalFlusher(_walSync, Release);
        }

        _thread = new Thread(Run) { Name = "smtpd store writer", IsBackground = true };
        _thread.Start();
        if (retention.Age is not null)
        {
            _ageTimer = time.CreateTimer(static state => ((StoreWriter)state!).RequestPrune(), this, AgeCheckInterval, AgeCheckInterval);
        }
    }

    /// <summary>
    /// Closes what the writer opened: the flusher (after its last sync), the WAL handle, the statements and the
    /// connection. Whatever of it a failed constructor had opened, too.
    /// </summary>
    private void CloseResources()
    {
        _flusher?.Complete();
        _walSync?.Dispose();
        _index?.Dispose();
        foreach (var command in new SqliteCommand?[] { _insertMessage, _insertChunk, _insertMailbox, _begin, _commit, _savepoint, _release, _rollbackToSavepoint, _dataVersionCommand })
        {
            command?.Dispose();
        }

        // The last connection to close checkpoints the WAL into the database file and deletes it.
        _connection.Close();
        _connection.Dispose();
    }

    /// <summary>The full path of the database file.</summary>
    public string Path { get; }

    /// <summary>
    /// Whether the writer's commits leave the WAL's sync to the flusher (<c>synchronous=NORMAL</c>): true once a
    /// pipelined writer's first commit that wrote something has run with <c>FULL</c>.
    /// </summary>
    internal bool LeavesSyncToFlusher => _walSync is not null && !Volatile.Read(ref _normalSyncPending);

    /// <summary>How many messages wait for the writer thread to take them: the store queue's depth (a single-reader channel cannot count).</summary>
    public int QueueLength => Volatile.Read(ref _queued);

    /// <summary>
    /// Queues a message and completes once it is committed and fsynced, with its id. The content stream must stay
    /// readable until then, which holds because the delivery callback awaits this task.
    /// </summary>
    /// <param name="record">The metadata.</param>
    /// <param name="content">The exact content when the session already holds it in memory (small messages), else <see langword="null"/>.</param>
    /// <param name="openContent">Opens the exact content bytes, for messages not given as <paramref name="content"/>.</param>
    /// <returns>The id the store gave the message.</returns>
    /// <exception cref="InvalidOperationException">The store is closing.</exception>
    public Task<long> StoreAsync(MessageRecord record, byte[]? content, Func<Stream> openContent)
    {
        var pending = new PendingMessage(record, content, openContent);
        var queued = Interlocked.Increment(ref _queued);
        if (!_queue.Writer.TryWrite(pending))
        {
            Interlocked.Decrement(ref _queued);
            throw new InvalidOperationException("The store is closed.");
        }

        // The writer may be gathering a group (GatherGroup): wake it once the group it waits for is complete.
        var target = Volatile.Read(ref _gatherTarget);
        if (target > 0 && queued >= target)
        {
            _arrived.Set();
        }

        return pending.Completion.Task;
    }

    /// <summary>Commits what is queued, stops the thread and closes the database (its WAL is checkpointed and removed).</summary>
    /// <returns>A task that completes when the store is closed.</returns>
    public Task CloseAsync()
    {
        _ageTimer?.Dispose();
        _queue.Writer.TryComplete();
        return _finished.Task;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _ageTimer?.Dispose();
        _queue.Writer.TryComplete();
        if (_thread.IsAlive && Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }
    }

    private void Run()
    {
        var batch = new List<PendingMessage>(MaxBatchMessages);
        try
        {
            while (_queue.Reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                if (_flusher?.Failure is { } failure)
                {
                    // What is on disk is unknown after a failed sync (WalFlusher): take no more mail.
                    throw failure;
                }

                GatherGroup();
                long bytes = 0;
                var prune = false;
                while (batch.Count < MaxBatchMessages && bytes < MaxBatchBytes && _queue.Reader.TryRead(out var work))
                {
                    if (work is PendingMessage pending)
                    {
                        Interlocked.Decrement(ref _queued);
                        batch.Add(pending);
                        bytes += pending.Record.Size;
                    }
                    else
                    {
                        prune = true;
                    }
                }

                // Every batch of messages checks retention; a prune request alone (the age timer, a batch that
                // left more to prune) runs as a transaction of its own.
                _lastGroup = batch.Count;
                WriteBatch(batch, prune || batch.Count > 0);
                batch.Clear();
            }
        }
        catch (Exception ex)
        {
            // Nothing queued after a fatal error can be committed: fail it so each session answers 451, never 250.
            _queue.Writer.TryComplete(ex);
            while (_queue.Reader.TryRead(out var work))
            {
                if (work is PendingMessage pending)
                {
                    batch.Add(pending);
                }
            }

            var failures = new Exception?[batch.Count];
            Array.Fill(failures, ex);
            Release([new CommittedGroup([.. batch], new long[batch.Count], failures, null, Committed: false)]);
        }
        finally
        {
            try
            {
                // Every committed group is synced and released before the connection closes.
                CloseResources();
                _finished.TrySetResult();
            }
            catch (SqliteException ex)
            {
                _finished.TrySetException(ex);
            }
        }
    }

    /// <summary>
    /// Under concurrency, waits up to <see cref="GatherMilliseconds"/> for the sessions of the last group to queue
    /// their next message, so that they share the next fsync instead of each waiting for two. Without it, 20 clients
    /// split into two cohorts that take turns: while one group commits, the sessions it released come back and queue,
    /// and every message waits for the commit in progress and then its own (about 9 messages per fsync with 20
    /// clients, docs/performance.md "Catcher ingest"). PostgreSQL's <c>commit_delay</c> with <c>commit_siblings</c>
    /// is the same trade: a short wait, taken only when others are known to be coming, for fewer fsyncs.
    /// </summary>
    /// <remarks>
    /// Nothing is committed later than its fsync would allow: the wait only decides how many messages one commit
    /// holds, and every message still gets its 250 only after the COMMIT that holds it. A lone client (a last group
    /// below <see cref="GatherMinimum"/>) never waits.
    /// </remarks>
    private void GatherGroup()
    {
        var target = _lastGroup;
        if (target < GatherMinimum || Volatile.Read(ref _queued) >= target)
        {
            return;
        }

        _arrived.Reset();
        Volatile.Write(ref _gatherTarget, target);
        // Checked again after the target is published: a message queued in between may not have seen it.
        if (Volatile.Read(ref _queued) < target)
        {
            _arrived.Wait(GatherMilliseconds);
        }

        Volatile.Write(ref _gatherTarget, 0);
    }

    private void WriteBatch(List<PendingMessage> batch, bool prune)
    {
        var ids = new long[batch.Count];
        var failures = new Exception?[batch.Count];
        var firstId = _nextId;
        StorePruned? pruned = null;
        var committed = false;
        try
        {
            _begin.ExecuteNonQuery();
            var version = DataVersion();
            if (version != _dataVersion)
            {
                // Another connection (the HTTP API, smtpd delete or clear) changed the store: recount before pruning.
                _dataVersion = version;
                Recount();
            }

            for (var i = 0; i < batch.Count; i++)
            {
                if (batch[i].Content is { } content)
                {
                    // Already in memory: nothing can fail half-way but SQLite itself, which fails the whole batch.
                    ids[i] = InsertRecord(batch[i].Record);
                    InsertChunk(ids[i], 0, content);
                    _count++;
                    _totalSize += batch[i].Record.Size;
                    continue;
                }

                _savepoint.ExecuteNonQuery();
                try
                {
                    ids[i] = InsertRecord(batch[i].Record);
                    InsertStreamed(ids[i], batch[i]);
                    _release.ExecuteNonQuery();
                    _count++;
                    _totalSize += batch[i].Record.Size;
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidDataException or OperationCanceledException)
                {
                    _rollbackToSavepoint.ExecuteNonQuery();
                    _release.ExecuteNonQuery();
                    failures[i] = ex;
                }
            }

            if (prune)
            {
                pruned = PruneAll();
            }

            _commit.ExecuteNonQuery();
            committed = true;
            if (pruned is not null || (batch.Count > 0 && Array.Exists(failures, static f => f is null)))
            {
                SwitchToNormalSync();
            }
        }
        catch (Exception ex)
        {
            try
            {
                StoreSchema.Execute(_connection, "ROLLBACK");
            }
            catch (SqliteException)
            {
                // SQLite rolls back by itself after some errors; there is nothing left to undo.
            }

            Recount();
            _nextId = firstId;
            pruned = null;
            Array.Fill(failures, ex);
        }

        if (pruned?.Messages == PruneBatch || (pruned is not null && _morePrune))
        {
            // There may be more: go on after whatever sessions queued meanwhile.
            RequestPrune();
        }

        if (batch.Count > 0 || pruned is not null)
        {
            var group = new CommittedGroup([.. batch], ids, failures, pruned, committed);
            if (_flusher is not null)
            {
                _flusher.Enqueue(group);
            }
            else
            {
                Release([group]);
            }
        }
    }

    /// <summary>
    /// After the first commit that wrote to the WAL with <c>synchronous=FULL</c> (and so synced the directory of a
    /// WAL this connection created), hands every later commit's sync to the flusher.
    /// </summary>
    private void SwitchToNormalSync()
    {
        if (_normalSyncPending)
        {
            StoreSchema.Execute(_connection, "PRAGMA synchronous = NORMAL");
            Volatile.Write(ref _normalSyncPending, false);
        }
    }

    /// <summary>
    /// The WAL file SQLite writes: named after the database file as SQLite resolved it (<c>PRAGMA database_list</c>),
    /// which follows a symbolic link to its target, where the path the catcher was given would not.
    /// </summary>
    private static string WalPath(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT file FROM pragma_database_list WHERE name = 'main'";
        var file = command.ExecuteScalar() as string;
        return (string.IsNullOrEmpty(file) ? throw new InvalidOperationException("The store has no database file.") : file) + "-wal";
    }

    /// <summary>Asks the writer thread to prune by retention (once the messages queued before are written).</summary>
    private void RequestPrune()
    {
        if (_retention.IsUnlimited)
        {
            return;
        }

        _queue.Writer.TryWrite(PruneRequest.Instance);
    }

    /// <summary>
    /// Releases synced (or failed) groups' sessions from one thread-pool work item: each session's 250 and its next
    /// read run there, one after another. A work item per session woke a pool thread per message, and the pool's
    /// spinning between them cost more CPU than the sessions' own work (workload E in docs/performance.md). Neither
    /// the writer nor the flusher thread runs session code, so each goes straight on to its next group.
    /// </summary>
    /// <remarks>
    /// A prune in a group is reported before the group's messages, from the same work item: whoever watches the
    /// events sees the old messages go before the new ones that made them go.
    /// </remarks>
    private void Release(IReadOnlyList<CommittedGroup> groups) =>
        ThreadPool.UnsafeQueueUserWorkItem(static state =>
        {
            foreach (var group in state.groups)
            {
                if (group.Pruned is { } pruned)
                {
                    state.onPruned?.Invoke(pruned);
                }

                for (var i = 0; i < group.Messages.Length; i++)
                {
                    if (group.Failures[i] is { } failure)
                    {
                        group.Messages[i].Completion.TrySetException(failure);
                    }
                    else
                    {
                        group.Messages[i].Completion.TrySetResult(group.Ids[i]);
                    }
                }
            }
        }, (groups, onPruned: _pruned), preferLocal: false);

    private long InsertRecord(MessageRecord r)
    {
        var id = _nextId++;
        var p = _insertMessage.Parameters;
        p[0].Value = id;
        p[1].Value = r.ReceivedAtText;
        p[2].Value = r.MailFrom;
        p[3].Value = CatcherJson.StringArray(r.Recipients);
        p[4].Value = r.Client;
        p[5].Value = (object?)r.Helo ?? DBNull.Value;
        p[6].Value = r.Tls ? 1 : 0;
        p[7].Value = (object?)r.TlsProtocol ?? DBNull.Value;
        p[8].Value = (object?)r.User ?? DBNull.Value;
        p[9].Value = r.Size;
        p[10].Value = r.Sha256;
        p[11].Value = (object?)r.Subject ?? DBNull.Value;
        p[12].Value = (object?)r.HeaderFrom ?? DBNull.Value;
        p[13].Value = (object?)r.HeaderTo ?? DBNull.Value;
        p[14].Value = (object?)r.HeaderDate ?? DBNull.Value;
        p[15].Value = (object?)r.MessageId ?? DBNull.Value;
        p[16].Value = r.HasAttachments ? 1 : 0;
        p[17].Value = (object?)r.DsnReturn ?? DBNull.Value;
        p[18].Value = (object?)r.DsnEnvelopeId ?? DBNull.Value;
        p[19].Value = r.RecipientDsn.Count == 0 ? DBNull.Value : CatcherJson.RecipientDsnArray(r.RecipientDsn);
        p[20].Value = (object?)r.HeaderCc ?? DBNull.Value;
        p[21].Value = (object?)r.HeaderBcc ?? DBNull.Value;
        p[22].Value = (object?)r.HeaderReplyTo ?? DBNull.Value;
        p[23].Value = r.Attachments;
        p[24].Value = r.InlineParts;
        p[25].Value = (object?)r.Snippet ?? DBNull.Value;
        p[26].Value = (object?)r.TlsCipher ?? DBNull.Value;
        p[27].Value = (object?)r.ListenerPort ?? DBNull.Value;
        _insertMessage.ExecuteNonQuery();
        _index.Insert(id, r);
        // Routed once, at ingest: one row per mailbox, so a message for two mailboxes is stored once.
        foreach (var mailbox in r.Mailboxes)
        {
            _insertMailbox.Parameters[0].Value = id;
            _insertMailbox.Parameters[1].Value = mailbox;
            _insertMailbox.ExecuteNonQuery();
        }

        return id;
    }

    private void InsertChunk(long id, int seq, byte[] data)
    {
        _insertChunk.Parameters[0].Value = StoreSchema.ChunkKey(id, seq);
        _insertChunk.Parameters[1].Value = id;
        _insertChunk.Parameters[2].Value = seq;
        _insertChunk.Parameters[3].Value = data;
        _insertChunk.ExecuteNonQuery();
    }

    /// <summary>Copies a large message's content a chunk at a time: a message of any size costs one chunk of memory.</summary>
    private void InsertStreamed(long id, PendingMessage pending)
    {
        var r = pending.Record;
        using var content = pending.OpenContent();
        long total = 0;
        for (var seq = 0; ; seq++)
        {
            var read = content.ReadAtLeast(_chunkBuffer, _chunkBuffer.Length, throwOnEndOfStream: false);
            if (read == 0 && seq > 0)
            {
                break;
            }

            total += read;
            InsertChunk(id, seq, read == _chunkBuffer.Length ? _chunkBuffer : _chunkBuffer.AsSpan(0, read).ToArray());
            if (read < _chunkBuffer.Length)
            {
                break;
            }
        }

        if (total != r.Size)
        {
            throw new InvalidDataException($"The content was {total} octets, not the {r.Size} announced.");
        }
    }

    private SqliteCommand Prepare(string sql)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Prepare();
        return command;
    }

    /// <summary>
    /// Deletes, inside the current transaction, the oldest messages that retention no longer keeps: beyond the count,
    /// older than the age, or beyond the total size. Messages go oldest first (lowest id first), at most
    /// <see cref="PruneBatch"/> at a time; the oldest are a prefix of the ids and their chunks a prefix of the chunk
    /// keys, so the delete is one key range in every table.
    /// </summary>
    /// <returns>What was pruned, or <see langword="null"/> when nothing was.</returns>
    private StorePruned? Prune()
    {
        var excessCount = _retention.Count > 0 ? _count - _retention.Count : 0;
        var excessSize = _retention.Size > 0 ? _totalSize - _retention.Size : 0;
        var ageLimit = _retention.Age is { } age ? MessageRecord.FormatTime(_time.GetUtcNow() - age) : null;
        if (excessCount <= 0 && excessSize <= 0 && ageLimit is null)
        {
            return null;
        }

        using var oldest = _connection.CreateCommand();
        oldest.CommandText = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"SELECT id, received_at, size FROM messages ORDER BY id LIMIT {PruneBatch}");
        long first = 0, last = 0, messages = 0, bytes = 0;
        using (var reader = oldest.ExecuteReader())
        {
            while (reader.Read())
            {
                var size = reader.GetInt64(2);
                // received_at is ISO 8601 UTC with 7 fraction digits: text order is time order.
                var tooOld = ageLimit is not null && string.CompareOrdinal(reader.GetString(1), ageLimit) < 0;
                if (excessCount <= 0 && excessSize <= 0 && !tooOld)
                {
                    break;
                }

                last = reader.GetInt64(0);
                first = messages == 0 ? last : first;
                messages++;
                bytes += size;
                excessCount--;
                excessSize -= size;
            }
        }

        if (messages == 0)
        {
            return null;
        }

        using var delete = _connection.CreateCommand();
        delete.CommandText = "DELETE FROM messages WHERE id BETWEEN $first AND $last;\n" + StoreSchema.DeleteRelatedRangeSql;
        delete.Parameters.AddWithValue("$first", first);
        delete.Parameters.AddWithValue("$last", last);
        delete.Parameters.AddWithValue("$factor", StoreSchema.ChunkKeyFactor);
        delete.ExecuteNonQuery();
        _count -= messages;
        _totalSize -= bytes;
        return new StorePruned(messages, bytes, first, last);
    }

    /// <summary>The store-wide prune, then each mailbox's <c>keep:</c>, reported as one prune.</summary>
    private StorePruned? PruneAll()
    {
        _morePrune = false;
        var pruned = Prune();
        if (_retention.MailboxKeep.Count == 0)
        {
            return pruned;
        }

        var mailboxes = PruneMailboxes();
        if (pruned is null || mailboxes is null)
        {
            return pruned ?? mailboxes;
        }

        return new StorePruned(pruned.Messages + mailboxes.Messages, pruned.Bytes + mailboxes.Bytes, Math.Min(pruned.FirstId, mailboxes.FirstId), Math.Max(pruned.LastId, mailboxes.LastId));
    }

    /// <summary>
    /// Each mailbox's <c>keep:N</c>, inside the current transaction: its messages beyond the newest N leave it, and
    /// those then in no named mailbox leave the store (with their content and index rows), as a delete would. At
    /// most <see cref="PruneBatch"/> per mailbox per transaction, like the store-wide prune; the rest is requested again.
    /// </summary>
    /// <returns>What was pruned, or <see langword="null"/> when no message left any mailbox.</returns>
    private StorePruned? PruneMailboxes()
    {
        long first = long.MaxValue, last = 0, messages = 0, bytes = 0;
        using var excess = _connection.CreateCommand();
        excess.CommandText = "SELECT message_id FROM message_mailboxes WHERE name = $name ORDER BY message_id DESC LIMIT $batch OFFSET $keep";
        var excessName = excess.Parameters.Add(new SqliteParameter("$name", string.Empty));
        var excessKeep = excess.Parameters.Add(new SqliteParameter("$keep", 0));
        excess.Parameters.AddWithValue("$batch", PruneBatch);
        using var leave = _connection.CreateCommand();
        leave.CommandText = """
            DELETE FROM message_mailboxes WHERE message_id = $id AND name = $name;
            DELETE FROM messages WHERE id = $id AND NOT EXISTS (SELECT 1 FROM message_mailboxes WHERE message_id = $id) RETURNING size;
            """;
        var leaveId = leave.Parameters.Add(new SqliteParameter("$id", 0L));
        var leaveName = leave.Parameters.Add(new SqliteParameter("$name", string.Empty));
        using var related = _connection.CreateCommand();
        related.CommandText = StoreSchema.DeleteRelatedRangeSql;
        var relatedFirst = related.Parameters.Add(new SqliteParameter("$first", 0L));
        var relatedLast = related.Parameters.Add(new SqliteParameter("$last", 0L));
        related.Parameters.AddWithValue("$factor", StoreSchema.ChunkKeyFactor);
        foreach (var (name, keep) in _retention.MailboxKeep)
        {
            excessName.Value = name;
            excessKeep.Value = keep;
            var ids = new List<long>();
            using (var reader = excess.ExecuteReader())
            {
                while (reader.Read())
                {
                    ids.Add(reader.GetInt64(0));
                }
            }

            _morePrune |= ids.Count == PruneBatch;
            foreach (var id in ids)
            {
                leaveId.Value = id;
                leaveName.Value = name;
                first = Math.Min(first, id);
                last = Math.Max(last, id);
                if (leave.ExecuteScalar() is long size)
                {
                    relatedFirst.Value = id;
                    relatedLast.Value = id;
                    related.ExecuteNonQuery();
                    messages++;
                    bytes += size;
                }
            }
        }

        if (last == 0)
        {
            return null;
        }

        _count -= messages;
        _totalSize -= bytes;
        return new StorePruned(messages, bytes, first, last);
    }

    /// <summary>Counts the messages and (only when retention by size needs it: it reads every row) their total size.</summary>
    private void Recount()
    {
        _count = Convert.ToInt64(StoreSchema.Scalar(_connection, "SELECT count(*) FROM messages"), System.Globalization.CultureInfo.InvariantCulture);
        _totalSize = _retention.Size > 0
            ? Convert.ToInt64(StoreSchema.Scalar(_connection, "SELECT coalesce(sum(size), 0) FROM messages"), System.Globalization.CultureInfo.InvariantCulture)
            : 0;
    }

    private long DataVersion() => Convert.ToInt64(_dataVersionCommand.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>What the writer thread takes from its queue: a message to store, or a request to prune.</summary>
    internal abstract class WriterWork;

    private sealed class PruneRequest : WriterWork
    {
        public static readonly PruneRequest Instance = new();
    }

    /// <summary>A message a session waits on: its record, its content, and the completion that answers it.</summary>
    internal sealed class PendingMessage(MessageRecord record, byte[]? content, Func<Stream> openContent) : WriterWork
    {
        public MessageRecord Record { get; } = record;

        public byte[]? Content { get; } = content;

        public Func<Stream> OpenContent { get; } = openContent;

        // Continuations run where the group is released (Release), not on another thread each.
        public TaskCompletionSource<long> Completion { get; } = new();
    }
}
