using System.Globalization;
using System.Threading.Channels;
using Npgsql;
using NpgsqlTypes;

namespace Smtpd.Catcher.Storage.Postgres;

/// <summary>
/// The PostgreSQL side of <see cref="ICatcherStore.StoreAsync"/>: the same group commit as <see cref="StoreWriter"/>.
/// Sessions queue their messages; one loop takes whatever has queued up, writes it in one transaction and commits
/// once, then completes every waiting session. A session's <c>250</c> therefore follows its own COMMIT, and
/// concurrent sessions share one commit (and its WAL flush). A failed transaction (the server is down, restarting,
/// or refused the write) fails every message of the group, each session answers <c>451 4.3.0</c>, and the next
/// group opens a new connection: the writer recovers by itself when the server is back.
/// </summary>
/// <remarks>
/// Messages held in memory are written with one <see cref="NpgsqlBatch"/> per group (one round trip for the
/// group); larger ones are streamed into <c>bytea</c> chunks inside a savepoint, so a client that vanished mid-way
/// rolls back its own message alone. The NOTIFY that tells other instances about the new messages is part of the
/// transaction, so it is delivered exactly when (and only if) the commit succeeds.
/// </remarks>
internal sealed class PostgresStoreWriter
{
    /// <summary>The most messages in one transaction, as on SQLite.</summary>
    private const int MaxBatchMessages = 512;

    /// <summary>The most content in one transaction, so large messages commit without waiting for a crowd.</summary>
    private const long MaxBatchBytes = 64L * 1024 * 1024;

    /// <summary>
    /// How long a group whose COMMIT got no acknowledgement waits to learn its outcome before its sessions answer
    /// 451: long enough for a dropped connection or a fast restart, short beside the 10 minutes a client waits for the
    /// reply to the end of DATA (RFC 5321 section 4.5.3.2.6).
    /// </summary>
    internal static readonly TimeSpan DefaultResolveTimeout = TimeSpan.FromSeconds(15);

    private static readonly TimeSpan ResolveFirstDelay = TimeSpan.FromMilliseconds(100);

    private static readonly TimeSpan ResolveMaxDelay = TimeSpan.FromSeconds(2);

    /// <summary>The most messages one prune deletes; more go in the next transactions, between groups.</summary>
    internal const int PruneBatch = StoreWriter.PruneBatch;

    /// <summary>
    /// The messages of a group in one statement, a row per element of the column arrays: the insert trigger that keeps
    /// <c>message_counts</c> (migration 4) then runs once per group instead of once per message, and PostgreSQL binds
    /// and executes one statement instead of one per message. The recipients travel as a JSON array per message (an
    /// array of arrays cannot be unnested by rows).
    /// </summary>
    private const string InsertMessagesSql = """
        INSERT INTO messages (id, received_at, mail_from, rcpt_to, rcpt_text, client, helo, tls, tls_protocol, auth_user, size, sha256,
            subject, header_from, header_to, header_date, message_id, has_attachments, dsn_ret, dsn_envid, rcpt_dsn,
            header_cc, header_bcc, header_reply_to, attachments, inline_parts, snippet, tls_cipher, listener_port, search)
        SELECT t.id, t.received_at, t.mail_from, ARRAY(SELECT jsonb_array_elements_text(t.rcpt_json::jsonb)), t.rcpt_text, t.client, t.helo,
            t.tls, t.tls_protocol, t.auth_user, t.size, t.sha256, t.subject, t.header_from, t.header_to, t.header_date, t.message_id,
            t.has_attachments, t.dsn_ret, t.dsn_envid, t.rcpt_dsn, t.header_cc, t.header_bcc, t.header_reply_to, t.attachments,
            t.inline_parts, t.snippet, t.tls_cipher, t.listener_port, to_tsvector('simple', t.search)
        FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::boolean[],
            $9::text[], $10::text[], $11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
            $18::boolean[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::integer[],
            $26::integer[], $27::text[], $28::text[], $29::integer[], $30::text[])
            AS t(id, received_at, mail_from, rcpt_json, rcpt_text, client, helo, tls, tls_protocol, auth_user, size, sha256,
                subject, header_from, header_to, header_date, message_id, has_attachments, dsn_ret, dsn_envid, rcpt_dsn,
                header_cc, header_bcc, header_reply_to, attachments, inline_parts, snippet, tls_cipher, listener_port, search)
        """;

    /// <summary>One row per mailbox each message was routed to (migration 3), in the messages' own transaction.</summary>
    private const string InsertMailboxesSql = "INSERT INTO message_mailboxes (message_id, name) SELECT * FROM unnest($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING";

    private const string InsertChunkSql = "INSERT INTO message_chunks (message_id, seq, data) VALUES ($1, $2, $3)";

    private const string InsertChunksSql = "INSERT INTO message_chunks (message_id, seq, data) SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bytea[])";

    private const string InsertHeadersSql = "INSERT INTO message_headers (message_id, seq, name, value) SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[])";

    private readonly Channel<object> _queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly NpgsqlDataSource _dataSource;
    private readonly StoreRetention _retention;
    private readonly TimeProvider _time;
    private readonly Action<StorePruned>? _pruned;
    private readonly string _instance;
    private readonly Task _loop;
    private readonly ITimer? _ageTimer;
    private readonly ITimer _publishTimer;
    private readonly TimeSpan _resolveTimeout;
    private readonly PostgresUncertainCommits _uncertain;
    private readonly long _countSlack;
    private int _queued;
    private bool _morePrune;
    private bool _pruneLockTaken;
    private long _sinceCountCheck;
    private int _sinceFold;

    /// <summary>
    /// How many committed groups of this writer pass between its folds of <c>message_counts</c>: each writing
    /// transaction adds a row of deltas there, and readers fold them (<see cref="PostgresMessageStore.FoldAbove"/>),
    /// but an instance no one reads over HTTP must keep the table small by itself.
    /// </summary>
    internal const int FoldEvery = PostgresMessageStore.FoldAbove;

    private readonly NpgsqlDataSource? _readers;

    /// <summary>Drops the idle connections of both pools: a server restart ends them all, and each would fail one request.</summary>
    private void ClearPools()
    {
        _dataSource.Clear();
        _readers?.Clear();
    }

    /// <summary>Starts the writer loop.</summary>
    /// <param name="dataSource">The catcher's data source.</param>
    /// <param name="retention">Which messages to keep.</param>
    /// <param name="time">The clock retention by age reads.</param>
    /// <param name="pruned">Called after each commit that pruned, on a thread-pool thread.</param>
    /// <param name="instance">This instance's id, put in each NOTIFY so it can ignore its own.</param>
    /// <param name="resolveTimeout">How long to try to learn an unacknowledged COMMIT's outcome; <see cref="DefaultResolveTimeout"/> if null.</param>
    /// <param name="readers">The readers' pool, cleared with the writer's when a failure says the server went away.</param>
    public PostgresStoreWriter(NpgsqlDataSource dataSource, StoreRetention retention, TimeProvider time, Action<StorePruned>? pruned, string instance, TimeSpan? resolveTimeout = null, NpgsqlDataSource? readers = null)
    {
        _readers = readers;
        _resolveTimeout = resolveTimeout ?? DefaultResolveTimeout;
        _countSlack = CountSlack(retention.Count);
        _uncertain = new PostgresUncertainCommits(time);
        _dataSource = dataSource;
        _retention = retention;
        _time = time;
        _pruned = pruned;
        _instance = instance;
        RequestPrune();
        _loop = Task.Run(RunAsync);
        if (retention.Age is not null)
        {
            _ageTimer = time.CreateTimer(static state => ((PostgresStoreWriter)state!).RequestPrune(), this, StoreWriter.AgeCheckInterval, StoreWriter.AgeCheckInterval);
        }

        // An instance that answered 451 may get no more mail (its clients retry elsewhere), so it settles its
        // uncertain messages on a timer too, not only when its next group comes.
        _publishTimer = time.CreateTimer(static state => ((PostgresStoreWriter)state!).RequestPublish(), this, PublishInterval, PublishInterval);
    }

    /// <summary>How often an instance with uncertain messages asks what became of them, mail or no mail.</summary>
    internal static readonly TimeSpan PublishInterval = TimeSpan.FromSeconds(5);

    /// <summary>How long a settled message in <c>retry_keys</c> answers a retry: <see cref="PostgresUncertainCommits.Lifetime"/>.</summary>
    private const string RetryKeyLifetimeSql = "interval '24 hours'";

    /// <summary>The messages answered 451 whose commit could not be confirmed (tests remember entries through it, before any store).</summary>
    internal PostgresUncertainCommits Uncertain => _uncertain;

    /// <summary>How many messages wait for the loop to take them into a group (the channel cannot count itself).</summary>
    public int QueueLength => Volatile.Read(ref _queued);

    /// <summary>Queues a message; completes with its id after its COMMIT.</summary>
    /// <param name="record">The metadata.</param>
    /// <param name="content">The content, when in memory.</param>
    /// <param name="openContent">Opens the content otherwise.</param>
    /// <returns>The id.</returns>
    /// <exception cref="InvalidOperationException">The store is closing.</exception>
    public Task<long> StoreAsync(MessageRecord record, byte[]? content, Func<Stream> openContent)
    {
        var pending = new Pending(record, content, openContent);
        Interlocked.Increment(ref _queued);
        if (!_queue.Writer.TryWrite(pending))
        {
            Interlocked.Decrement(ref _queued);
            throw new InvalidOperationException("The store is closed.");
        }

        return pending.Completion.Task;
    }

    /// <summary>Commits what is queued and stops.</summary>
    /// <returns>A task that completes when the loop has ended.</returns>
    public Task CloseAsync()
    {
        _ageTimer?.Dispose();
        _publishTimer.Dispose();
        _queue.Writer.TryComplete();
        return _loop;
    }

    private void RequestPublish()
    {
        // A hint read off the loop's thread: at worst one wake-up too many or one interval late.
        if (_uncertain.Count > 0)
        {
            _queue.Writer.TryWrite(PublishRequest.Instance);
        }
    }

    private void RequestPrune()
    {
        if (!_retention.IsUnlimited)
        {
            _queue.Writer.TryWrite(PruneRequest.Instance);
        }
    }

    private async Task RunAsync()
    {
        var batch = new List<Pending>(MaxBatchMessages);
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            long bytes = 0;
            var prune = false;
            var publish = false;
            while (batch.Count < MaxBatchMessages && bytes < MaxBatchBytes && _queue.Reader.TryRead(out var work))
            {
                if (work is Pending pending)
                {
                    Interlocked.Decrement(ref _queued);
                    batch.Add(pending);
                    bytes += pending.Record.Size;
                }
                else if (work is PublishRequest)
                {
                    publish = true;
                }
                else
                {
                    prune = true;
                }
            }

            if (publish && batch.Count == 0 && !prune)
            {
                await PublishSettledAsync().ConfigureAwait(false);
                continue;
            }

            _sinceCountCheck += batch.Count;
            await WriteBatchAsync(batch, prune || (batch.Count > 0 && PruneDue())).ConfigureAwait(false);
            batch.Clear();
        }
    }

    /// <summary>
    /// How many messages past <c>--retain</c> an instance lets in before it checks the count again: a twentieth of
    /// the limit, at most 500, and none below 20. Finding the newest N is a walk of N index entries (and their heap
    /// tuples while the visibility map is not yet set), so checking after every group made each group cost O(N);
    /// checking every <c>N / 20</c> messages spends at most 20 entries per message, and the prune that follows deletes
    /// the excess in one statement.
    /// </summary>
    /// <param name="count">The <c>--retain</c> limit.</param>
    /// <returns>The slack.</returns>
    internal static long CountSlack(long count) => Math.Min(count / 20, 500);

    /// <summary>Whether this group prunes: every group under age, size or mailbox limits, and under a count limit once this instance stored more than the slack since the last check.</summary>
    private bool PruneDue() =>
        !_retention.IsUnlimited
        && (_retention.Age is not null || _retention.Size > 0 || _retention.MailboxKeep.Count > 0 || (_retention.Count > 0 && _sinceCountCheck > _countSlack));

    private async Task WriteBatchAsync(List<Pending> batch, bool prune)
    {
        _pruneLockTaken = false;
        if (_uncertain.Count > 0)
        {
            await PublishSettledAsync().ConfigureAwait(false);
        }

        if (_uncertain.Count > 0 && batch.Count > 0)
        {
            await SettleRetriesAsync(batch).ConfigureAwait(false);
        }

        var ids = new long[batch.Count];
        var failures = new Exception?[batch.Count];
        StorePruned? pruned = null;
        long transactionId = 0;
        var committing = false;
        var committed = false;
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync().ConfigureAwait(false);
            if (batch.Count > 0)
            {
                (transactionId, var sharedRetries) = await AllocateIdsAsync(connection, transaction, ids).ConfigureAwait(false);
                if (sharedRetries && await TakeSharedRetriesAsync(connection, transaction, batch, ids).ConfigureAwait(false) is { } kept)
                {
                    // Retries acknowledged with their first copy's id leave the group (their ids stay unused).
                    ids = kept;
                    failures = new Exception?[batch.Count];
                }
                var allInMemory = batch.TrueForAll(p => p.Content is not null);
                await using (var group = new NpgsqlBatch(connection, transaction))
                {
                    var inMemory = Enumerable.Range(0, batch.Count).Where(i => batch[i].Content is not null).ToArray();
                    if (inMemory.Length > 0)
                    {
                        AddMessages(group, [.. inMemory.Select(i => ids[i])], [.. inMemory.Select(i => batch[i].Record)]);
                        AddChunks(group, [.. inMemory.Select(i => ids[i])], [.. inMemory.Select(i => batch[i].Content!)]);
                    }

                    if (allInMemory && batch.Count > 0)
                    {
                        // Every message is in this batch and none can fail alone: the NOTIFY rides with it (one round trip fewer).
                        group.BatchCommands.Add(NotifyCommand("new " + string.Join(',', ids.Select(id => id.ToString(CultureInfo.InvariantCulture)))));
                    }

                    if (group.BatchCommands.Count > 0)
                    {
                        // Prepared once per connection (Npgsql keeps them with the physical connection): PostgreSQL then
                        // skips parsing and planning the 30-parameter INSERT and its companions for every message.
                        await group.PrepareAsync().ConfigureAwait(false);
                        await group.ExecuteNonQueryAsync().ConfigureAwait(false);
                    }
                }

                for (var i = 0; i < batch.Count; i++)
                {
                    if (batch[i].Content is null)
                    {
                        failures[i] = await InsertStreamedAsync(connection, transaction, ids[i], batch[i]).ConfigureAwait(false);
                    }
                }

                var stored = ids.Where((_, i) => failures[i] is null).ToArray();
                if (stored.Length > 0 && !allInMemory)
                {
                    await NotifyAsync(connection, transaction, "new " + string.Join(',', stored.Select(id => id.ToString(CultureInfo.InvariantCulture)))).ConfigureAwait(false);
                }
            }

            if (prune)
            {
                pruned = await PruneAsync(connection, transaction).ConfigureAwait(false);
                if (pruned is not null)
                {
                    await NotifyAsync(connection, transaction, "prune").ConfigureAwait(false);
                }
            }

            committing = true;
            await transaction.CommitAsync().ConfigureAwait(false);
            committed = true;
            if (_pruneLockTaken)
            {
                _sinceCountCheck = 0;
            }
        }
#pragma warning disable CA1031 // Whatever failed, the group must be settled (250 or 451), never hang or kill the loop.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            // Idle pooled connections may be as dead as this one (a server restart ends them all): drop them, so the
            // next group (and the resolution below) opens a fresh connection and succeeds as soon as the server is back.
            ClearPools();
            var outcome = CommitOutcome.Aborted;
            var stored = Enumerable.Range(0, batch.Count).Where(i => failures[i] is null).ToArray();
            if (committing && stored.Length > 0)
            {
                // The COMMIT was sent and no acknowledgement came back: PostgreSQL may have committed the group.
                // Even an error reply does not prove otherwise (a backend terminated right after its commit record
                // was flushed reports FATAL 57P01), so ask the server, on a fresh connection, what the transaction became.
                // The group's own prune may have deleted its own rows in the same transaction (a --retain smaller than
                // the group): then only txid_status can tell; otherwise the rows must be there too.
                var storedIds = stored.Select(i => ids[i]).ToArray();
                var ownPruned = pruned is not null && storedIds.Any(id => id >= pruned.FirstId && id <= pruned.LastId);
                outcome = await ResolveAsync(transactionId, storedIds, [.. stored.Select(i => batch[i].Record.Sha256)], ownPruned).ConfigureAwait(false);
            }

            if (outcome != CommitOutcome.Committed)
            {
                // Nothing of the group is committed, or it cannot be known in time: every session answers 451 and
                // its client retries later.
                var unavailable = new StoreUnavailableException($"the PostgreSQL store is unavailable: {ex.Message}", ex);
                Array.Fill(failures, unavailable);
                pruned = null;
                if (outcome == CommitOutcome.Unknown)
                {
                    // The retry of an identical transaction is then settled by what this one became (SettleRetriesAsync).
                    foreach (var i in stored)
                    {
                        _uncertain.Remember(PostgresUncertainCommits.KeyOf(batch[i].Record), ids[i], transactionId, batch[i].Record.Sha256);
                    }
                }
            }
        }

        if (pruned?.Messages == PruneBatch || (pruned is not null && _morePrune))
        {
            RequestPrune();
        }

        Release([.. batch], ids, failures, pruned);
        if (committed && ++_sinceFold >= FoldEvery)
        {
            _sinceFold = 0;
            await FoldCountsAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Folds <c>message_counts</c>' delta rows into one with the readers' statement
    /// (<see cref="PostgresMessageStore.FoldCountsSql"/>, safe beside readers folding at the same time), after the
    /// group's sessions were released. A failure leaves the rows for the next fold: it never fails a message.
    /// </summary>
    private async Task FoldCountsAsync()
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
            await using var fold = new NpgsqlCommand(PostgresMessageStore.FoldCountsSql, connection);
            await fold.ExecuteNonQueryAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            // The server is away: the next group finds out, and the next fold gathers these rows too.
        }
    }

    /// <summary>
    /// Learns what became of a transaction whose COMMIT got no acknowledgement: <c>txid_status</c> (PostgreSQL's
    /// function for exactly this, "Transaction ID and Snapshot Information Functions") on a fresh connection, retried
    /// while the server is unreachable or the transaction is still in progress, until <see cref="_resolveTimeout"/>
    /// has passed. When the status is no longer kept (a transaction older than the commit-log history, not expected
    /// within seconds), whether the group's rows exist, under the ids the writer gave them, decides.
    /// </summary>
    /// <remarks>
    /// A transaction id alone is not proof: after a failover to an asynchronous standby that never received the
    /// commit, the new primary hands the same xid number to another transaction, and <c>txid_status</c> reports that
    /// one's commit. So "committed" counts only if one of the group's rows is there under its id with its content
    /// hash, or if the group's own prune may have deleted them (<paramref name="ownPruned"/>: then txid_status, which
    /// is why it is asked, is all there is). An xid beyond the server's next one (a standby that is behind) makes
    /// <c>txid_status</c> raise: it is not asked, and the rows decide.
    /// </remarks>
    private async Task<CommitOutcome> ResolveAsync(long transactionId, long[] ids, string[] sha256, bool ownPruned)
    {
        var deadline = _time.GetUtcNow() + _resolveTimeout;
        var delay = ResolveFirstDelay;
        while (true)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
                await using var status = new NpgsqlCommand(
                    $"""
                    SELECT {TxidStatusSql("$1")},
                        EXISTS (SELECT 1 FROM messages AS m JOIN unnest($2::bigint[], $3::text[]) AS t(id, sha256) ON m.id = t.id AND m.sha256 IS NOT DISTINCT FROM t.sha256)
                    """,
                    connection);
                status.Parameters.Add(new NpgsqlParameter<long> { TypedValue = transactionId });
                status.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = ids });
                status.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = sha256 });
                await using var reader = await status.ExecuteReaderAsync().ConfigureAwait(false);
                await reader.ReadAsync().ConfigureAwait(false);
                var outcome = Outcome(reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetBoolean(1), trustStatus: ownPruned);
                if (outcome != CommitOutcome.Unknown)
                {
                    return outcome;
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException or System.Net.Sockets.SocketException or InvalidOperationException)
            {
                // Still unreachable: try again until the bound.
                ClearPools();
            }

            if (_time.GetUtcNow() + delay > deadline)
            {
                return CommitOutcome.Unknown;
            }

            await Task.Delay(delay, _time).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, ResolveMaxDelay.Ticks));
        }
    }

    /// <summary>
    /// Settles the retries of messages remembered as uncertain before the group is written: one that PostgreSQL did
    /// commit is acknowledged with its first copy's id and not stored again; one that was rolled back is forgotten and
    /// stored as usual; one still undecided (the server unreachable, the old transaction still open) answers 451 again.
    /// </summary>
    /// <remarks>
    /// "Committed" is believed only when the first copy's row is there, under its id, with the retry's content hash,
    /// size and reverse path: a failover can hand the remembered xid to another transaction (see
    /// <see cref="ResolveAsync"/>), and answering 250 for a row that does not exist would lose the message. A first
    /// copy that retention has deleted since is therefore stored again: at least once, never lost. Each xid is asked
    /// on its own row, and one beyond the server's next xid is not asked at all, so one such entry cannot fail the others.
    /// </remarks>
    private async Task SettleRetriesAsync(List<Pending> batch)
    {
        var retries = new List<(Pending Pending, string Key, PostgresUncertainCommits.Entry Entry)>();
        var taken = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var pending in batch)
        {
            var key = PostgresUncertainCommits.KeyOf(pending.Record);
            // One retry per remembered attempt: two identical messages of one uncertain group are two attempts, and an
            // identical message beyond them in this group is a message of its own.
            var skip = taken.GetValueOrDefault(key);
            if (_uncertain.TryGet(key, skip, out var entry))
            {
                taken[key] = skip + 1;
                retries.Add((pending, key, entry));
            }
        }

        if (retries.Count == 0)
        {
            return;
        }

        var outcomes = new CommitOutcome[retries.Count];
        Exception? failure = null;
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
            await using var status = new NpgsqlCommand(
                $"""
                SELECT {TxidStatusSql("t.xid")},
                    EXISTS (SELECT 1 FROM messages AS m WHERE m.id = t.id AND m.sha256 IS NOT DISTINCT FROM t.sha256 AND m.size = t.size AND m.mail_from IS NOT DISTINCT FROM t.mail_from)
                FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY AS t(xid, id, sha256, size, mail_from, ord)
                ORDER BY t.ord
                """,
                connection);
            status.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. retries.Select(r => r.Entry.Transaction)] });
            status.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. retries.Select(r => r.Entry.Id)] });
            status.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. retries.Select(r => r.Pending.Record.Sha256)] });
            status.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. retries.Select(r => r.Pending.Record.Size)] });
            status.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. retries.Select(r => Clean(r.Pending.Record.MailFrom))] });
            await using var reader = await status.ExecuteReaderAsync().ConfigureAwait(false);
            for (var i = 0; await reader.ReadAsync().ConfigureAwait(false); i++)
            {
                outcomes[i] = Outcome(reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetBoolean(1), trustStatus: false);
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            ClearPools();
            failure = new StoreUnavailableException($"the PostgreSQL store is unavailable: {ex.Message}", ex);
            Array.Fill(outcomes, CommitOutcome.Unknown);
        }

        var settled = new List<Pending>();
        var settledIds = new List<long>();
        var settledFailures = new List<Exception?>();
        for (var i = 0; i < retries.Count; i++)
        {
            var (pending, key, entry) = retries[i];
            switch (outcomes[i])
            {
                case CommitOutcome.Committed:
                    // The first attempt is stored: this is its retry, acknowledged with its id.
                    _uncertain.Forget(key, entry);
                    settled.Add(pending);
                    settledIds.Add(entry.Id);
                    settledFailures.Add(null);
                    break;
                case CommitOutcome.Aborted:
                    _uncertain.Forget(key, entry);
                    break;
                default:
                    settled.Add(pending);
                    settledIds.Add(0);
                    settledFailures.Add(failure ?? new StoreUnavailableException("the PostgreSQL store cannot yet tell whether an earlier attempt of this message was stored"));
                    break;
            }
        }

        if (settled.Count > 0)
        {
            batch.RemoveAll(settled.Contains);
            Release([.. settled], [.. settledIds], [.. settledFailures], null);
        }
    }

    /// <summary>
    /// Asks what became of every uncertain message of this instance, and makes the settled ones known to every
    /// instance: one whose transaction committed (and whose row is there, under its id with its content hash) goes
    /// into <c>retry_keys</c>, where the retry is matched wherever HAProxy sends it (<see cref="TakeSharedRetriesAsync"/>),
    /// and one that was rolled back is forgotten. One still undecided stays, and its retry to this instance is
    /// answered 451 again (<see cref="SettleRetriesAsync"/>). A failure leaves everything as it was, for the next try.
    /// </summary>
    /// <remarks>
    /// Runs before each group while any are uncertain, and every <see cref="PublishInterval"/> without mail. What
    /// stays in memory: an entry remembered without its content hash (only settled by a retry here), and every entry
    /// if this instance stops before the server is back (a retry then stores a second copy: at least once).
    /// </remarks>
    private async Task PublishSettledAsync()
    {
        var entries = _uncertain.All().Where(e => e.Entry.Sha256 is not null).ToList();
        if (entries.Count == 0)
        {
            return;
        }

        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
            var outcomes = new CommitOutcome[entries.Count];
            await using (var status = new NpgsqlCommand(
                $"""
                SELECT {TxidStatusSql("t.xid")},
                    EXISTS (SELECT 1 FROM messages AS m WHERE m.id = t.id AND m.sha256 = t.sha256)
                FROM unnest($1::bigint[], $2::bigint[], $3::text[]) WITH ORDINALITY AS t(xid, id, sha256, ord)
                ORDER BY t.ord
                """,
                connection))
            {
                status.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. entries.Select(e => e.Entry.Transaction)] });
                status.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. entries.Select(e => e.Entry.Id)] });
                status.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. entries.Select(e => e.Entry.Sha256!)] });
                await using var reader = await status.ExecuteReaderAsync().ConfigureAwait(false);
                for (var i = 0; await reader.ReadAsync().ConfigureAwait(false); i++)
                {
                    outcomes[i] = Outcome(reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetBoolean(1), trustStatus: false);
                }
            }

            var committed = entries.Where((_, i) => outcomes[i] == CommitOutcome.Committed).ToList();
            if (committed.Count > 0)
            {
                await using (var expired = new NpgsqlCommand($"DELETE FROM retry_keys WHERE created_at <= now() - {RetryKeyLifetimeSql}", connection))
                {
                    await expired.ExecuteNonQueryAsync().ConfigureAwait(false);
                }

                await using var publish = new NpgsqlCommand(
                    "INSERT INTO retry_keys (key, message_id, sha256) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[]) ON CONFLICT DO NOTHING",
                    connection);
                publish.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. committed.Select(e => e.Key)] });
                publish.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. committed.Select(e => e.Entry.Id)] });
                publish.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. committed.Select(e => e.Entry.Sha256!)] });
                await publish.ExecuteNonQueryAsync().ConfigureAwait(false);
            }

            for (var i = 0; i < entries.Count; i++)
            {
                if (outcomes[i] != CommitOutcome.Unknown)
                {
                    _uncertain.Forget(entries[i].Key, entries[i].Entry);
                }
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            ClearPools();
        }
    }

    /// <summary>
    /// Matches the group's messages against <c>retry_keys</c>, in the group's transaction, right after the id
    /// allocation saw a row there (so a row another instance published before this group began is always seen): a
    /// message there is the retry of one whose commit an instance could not confirm in time and that turned out
    /// stored, so it is acknowledged at once with the first copy's id and leaves the group. Each row answers one retry
    /// (it is deleted by the same statement, so two instances cannot both take it; if the group then fails, the row
    /// is back for the next retry), and only while the first copy's row is still there: one that retention has
    /// deleted since is stored again, at least once, never lost.
    /// </summary>
    /// <returns>The ids of the messages left in <paramref name="batch"/>, or <see langword="null"/> when none was a retry.</returns>
    private async Task<long[]?> TakeSharedRetriesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<Pending> batch, long[] ids)
    {
        var keys = batch.Select(p => PostgresUncertainCommits.KeyOf(p.Record)).ToArray();
        var taken = new List<(string Key, long Id)>();
        await using (var take = new NpgsqlCommand(
            $"""
            WITH chosen AS (
                SELECT DISTINCT ON (key) key, message_id FROM retry_keys
                WHERE key = ANY($1) AND created_at > now() - {RetryKeyLifetimeSql}
                ORDER BY key, message_id),
            taken AS (
                DELETE FROM retry_keys AS r USING chosen AS c
                WHERE r.key = c.key AND r.message_id = c.message_id
                RETURNING r.key, r.message_id, r.sha256)
            SELECT t.key, t.message_id, EXISTS (SELECT 1 FROM messages AS m WHERE m.id = t.message_id AND m.sha256 = t.sha256)
            FROM taken AS t
            """,
            connection,
            transaction))
        {
            take.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. keys.Distinct(StringComparer.Ordinal)] });
            await using var reader = await take.ExecuteReaderAsync().ConfigureAwait(false);
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                if (reader.GetBoolean(2))
                {
                    taken.Add((reader.GetString(0), reader.GetInt64(1)));
                }
            }
        }

        if (taken.Count == 0)
        {
            return null;
        }

        var settled = new List<Pending>();
        var settledIds = new List<long>();
        foreach (var (key, id) in taken)
        {
            // The first message of the group with this key is the retry; an identical one after it is a message of its own.
            var index = Array.IndexOf(keys, key);
            if (index >= 0)
            {
                settled.Add(batch[index]);
                settledIds.Add(id);
            }
        }

        var kept = ids.Where((_, i) => !settled.Contains(batch[i])).ToArray();
        batch.RemoveAll(settled.Contains);
        Release([.. settled], [.. settledIds], new Exception?[settled.Count], null);
        return kept;
    }

    /// <summary>
    /// What a transaction became, from <c>txid_status</c> and its rows: "committed" holds only with the rows there,
    /// unless <paramref name="trustStatus"/> (the rows may have been pruned by the transaction itself); a status no
    /// longer kept, or not asked, leaves the rows to decide.
    /// </summary>
    private static CommitOutcome Outcome(string? status, bool rowsExist, bool trustStatus) => status switch
    {
        "committed" => rowsExist || trustStatus ? CommitOutcome.Committed : CommitOutcome.Aborted,
        "aborted" => CommitOutcome.Aborted,
        "in progress" => CommitOutcome.Unknown,
        _ => rowsExist ? CommitOutcome.Committed : CommitOutcome.Aborted,
    };

    /// <summary>
    /// <c>txid_status</c> of an xid, or NULL for one at or beyond the server's next xid, for which txid_status raises
    /// "transaction ID ... is in the future" (a server that lost transactions in a failover): a CASE evaluates the
    /// call only for the others.
    /// </summary>
    private static string TxidStatusSql(string xid) => $"CASE WHEN {xid} < txid_snapshot_xmax(txid_current_snapshot()) THEN txid_status({xid}) END";

    /// <summary>
    /// Takes the group's ids from the identity's sequence in one round trip, with the transaction's id and whether
    /// <c>retry_keys</c> holds a settled message still answering retries (for the next group: no extra round trip).
    /// </summary>
    /// <returns>The transaction id (<c>txid_current()</c>), by which an unacknowledged COMMIT is resolved, and that flag.</returns>
    private static async Task<(long Transaction, bool SharedRetries)> AllocateIdsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long[] ids)
    {
        await using var command = new NpgsqlCommand(
            $"SELECT nextval(pg_get_serial_sequence('messages', 'id')), txid_current(), EXISTS (SELECT 1 FROM retry_keys WHERE created_at > now() - {RetryKeyLifetimeSql}) FROM generate_series(1, $1)",
            connection,
            transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = ids.Length });
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        long transactionId = 0;
        var sharedRetries = false;
        for (var i = 0; await reader.ReadAsync().ConfigureAwait(false); i++)
        {
            ids[i] = reader.GetInt64(0);
            transactionId = reader.GetInt64(1);
            sharedRetries = reader.GetBoolean(2);
        }

        return (transactionId, sharedRetries);
    }

    /// <summary>Adds the rows of <paramref name="records"/> (their message rows, header rows and mailbox rows) to the group, in three statements at most.</summary>
    private static void AddMessages(NpgsqlBatch group, long[] ids, MessageRecord[] records)
    {
        var insert = new NpgsqlBatchCommand(InsertMessagesSql);
        var p = insert.Parameters;
        p.Add(new NpgsqlParameter<long[]> { TypedValue = ids });
        p.Add(new NpgsqlParameter<DateTimeOffset[]> { TypedValue = [.. records.Select(r => r.ReceivedAt.ToUniversalTime())] });
        p.Add(Texts(records, r => r.MailFrom));
        p.Add(Texts(records, r => CatcherJson.StringArray(r.Recipients)));
        p.Add(Texts(records, r => string.Join('\n', r.Recipients)));
        p.Add(Texts(records, r => r.Client));
        p.Add(Texts(records, r => r.Helo));
        p.Add(new NpgsqlParameter<bool[]> { TypedValue = [.. records.Select(r => r.Tls)] });
        p.Add(Texts(records, r => r.TlsProtocol));
        p.Add(Texts(records, r => r.User));
        p.Add(new NpgsqlParameter<long[]> { TypedValue = [.. records.Select(r => r.Size)] });
        p.Add(Texts(records, r => r.Sha256));
        p.Add(Texts(records, r => r.Subject));
        p.Add(Texts(records, r => r.HeaderFrom));
        p.Add(Texts(records, r => r.HeaderTo));
        p.Add(Texts(records, r => r.HeaderDate));
        p.Add(Texts(records, r => r.MessageId));
        p.Add(new NpgsqlParameter<bool[]> { TypedValue = [.. records.Select(r => r.HasAttachments)] });
        p.Add(Texts(records, r => r.DsnReturn));
        p.Add(Texts(records, r => r.DsnEnvelopeId));
        p.Add(Texts(records, r => r.RecipientDsn.Count == 0 ? null : CatcherJson.RecipientDsnArray(r.RecipientDsn)));
        p.Add(Texts(records, r => r.HeaderCc));
        p.Add(Texts(records, r => r.HeaderBcc));
        p.Add(Texts(records, r => r.HeaderReplyTo));
        p.Add(new NpgsqlParameter<int[]> { TypedValue = [.. records.Select(r => r.Attachments)] });
        p.Add(new NpgsqlParameter<int[]> { TypedValue = [.. records.Select(r => r.InlineParts)] });
        p.Add(Texts(records, r => r.Snippet));
        p.Add(Texts(records, r => r.TlsCipher));
        p.Add(new NpgsqlParameter<int?[]> { TypedValue = [.. records.Select(r => r.ListenerPort)] });
        // The three texts SQLite's messages_fts holds, folded as its tokenizer folds them (PostgresSearchCompiler.Fold).
        p.Add(Texts(records, r => PostgresSearchCompiler.Fold(string.Join(' ', r.Subject, r.SearchAddresses, r.SearchBody))));
        group.BatchCommands.Add(insert);

        var headerRows = records.Sum(r => r.SearchHeaders.Count);
        if (headerRows > 0)
        {
            var headers = new NpgsqlBatchCommand(InsertHeadersSql);
            headers.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. records.SelectMany((r, i) => r.SearchHeaders.Select(_ => ids[i]))] });
            headers.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = [.. records.SelectMany(r => Enumerable.Range(0, r.SearchHeaders.Count))] });
            headers.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. records.SelectMany(r => r.SearchHeaders.Select(h => Clean(h.Key)))] });
            headers.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. records.SelectMany(r => r.SearchHeaders.Select(h => Clean(h.Value)))] });
            group.BatchCommands.Add(headers);
        }

        if (records.Any(r => r.Mailboxes.Count > 0))
        {
            // Routed once, at ingest, and committed with the message: no moment where it is stored but in no mailbox.
            var mailboxes = new NpgsqlBatchCommand(InsertMailboxesSql);
            mailboxes.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. records.SelectMany((r, i) => r.Mailboxes.Select(_ => ids[i]))] });
            mailboxes.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. records.SelectMany(r => r.Mailboxes.Select(Clean))] });
            group.BatchCommands.Add(mailboxes);
        }
    }

    /// <summary>The first (and only) chunk of each in-memory message, in one statement.</summary>
    private static void AddChunks(NpgsqlBatch group, long[] ids, byte[][] contents)
    {
        var chunks = new NpgsqlBatchCommand(InsertChunksSql);
        chunks.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = ids });
        chunks.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = new int[ids.Length] });
        chunks.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = contents });
        group.BatchCommands.Add(chunks);
    }

    /// <summary>A text column of the group: one element per message, NUL characters replaced (PostgreSQL text cannot hold them).</summary>
    private static NpgsqlParameter<string?[]> Texts(MessageRecord[] records, Func<MessageRecord, string?> column) =>
        new NpgsqlParameter<string?[]> { TypedValue = [.. records.Select(r => column(r) is { } value ? Clean(value) : null)] };

    /// <summary>
    /// Writes a large message a chunk at a time inside a savepoint: one chunk of memory whatever its size. A content
    /// that cannot be read (its client went away) rolls back this message alone and is its failure.
    /// </summary>
    private static async Task<Exception?> InsertStreamedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long id, Pending pending)
    {
        await transaction.SaveAsync("message").ConfigureAwait(false);
        try
        {
            await using (var head = new NpgsqlBatch(connection, transaction))
            {
                AddMessages(head, [id], [pending.Record]);
                await head.ExecuteNonQueryAsync().ConfigureAwait(false);
            }

            var buffer = new byte[PostgresSchema.ChunkSize];
            await using var content = pending.OpenContent();
            await using var insert = new NpgsqlCommand(InsertChunkSql, connection, transaction);
            var idParameter = new NpgsqlParameter<long> { TypedValue = id };
            var seqParameter = new NpgsqlParameter<int>();
            var dataParameter = new NpgsqlParameter<byte[]> { NpgsqlDbType = NpgsqlDbType.Bytea };
            insert.Parameters.Add(idParameter);
            insert.Parameters.Add(seqParameter);
            insert.Parameters.Add(dataParameter);
            long total = 0;
            for (var seq = 0; ; seq++)
            {
                var read = await content.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false).ConfigureAwait(false);
                if (read == 0 && seq > 0)
                {
                    break;
                }

                total += read;
                seqParameter.TypedValue = seq;
                dataParameter.TypedValue = read == buffer.Length ? buffer : buffer.AsSpan(0, read).ToArray();
                await insert.ExecuteNonQueryAsync().ConfigureAwait(false);
                if (read < buffer.Length)
                {
                    break;
                }
            }

            if (total != pending.Record.Size)
            {
                throw new InvalidDataException($"The content was {total} octets, not the {pending.Record.Size} announced.");
            }

            await transaction.ReleaseAsync("message").ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidDataException or OperationCanceledException)
        {
            await transaction.RollbackAsync("message").ConfigureAwait(false);
            return ex;
        }
    }

    private async Task NotifyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string what)
    {
        await using var notify = new NpgsqlBatch(connection, transaction);
        notify.BatchCommands.Add(NotifyCommand(what));
        await notify.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    private NpgsqlBatchCommand NotifyCommand(string what)
    {
        // NOTIFY payloads stay under 8000 octets: a group of 512 ids is about 4 KB.
        var notify = new NpgsqlBatchCommand("SELECT pg_notify($1, $2)");
        notify.Parameters.Add(new NpgsqlParameter<string> { TypedValue = PostgresSchema.Channel });
        notify.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _instance + " " + what });
        return notify;
    }

    /// <summary>
    /// Deletes, in the current transaction, the oldest messages retention no longer keeps, at most
    /// <see cref="PruneBatch"/>. Only one instance prunes at a time: the transaction-scoped advisory lock is tried,
    /// never waited for, so an instance that finds it taken simply leaves the work to the one holding it.
    /// </summary>
    private async Task<StorePruned?> PruneAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        await using (var lockCommand = new NpgsqlCommand($"SELECT pg_try_advisory_xact_lock({PostgresSchema.PruneLockKey})", connection, transaction))
        {
            if (await lockCommand.ExecuteScalarAsync().ConfigureAwait(false) is not true)
            {
                return null;
            }
        }

        _morePrune = false;
        _pruneLockTaken = true;
        var pruned = _retention.Count > 0 || _retention.Age is not null || _retention.Size > 0 ? await PruneStoreAsync(connection, transaction).ConfigureAwait(false) : null;
        if (_retention.MailboxKeep.Count == 0)
        {
            return pruned;
        }

        var mailboxes = await PruneMailboxesAsync(connection, transaction).ConfigureAwait(false);
        if (pruned is null || mailboxes is null)
        {
            return pruned ?? mailboxes;
        }

        return new StorePruned(pruned.Messages + mailboxes.Messages, pruned.Bytes + mailboxes.Bytes, Math.Min(pruned.FirstId, mailboxes.FirstId), Math.Max(pruned.LastId, mailboxes.LastId));
    }

    /// <summary>The store-wide limits (count, age, size): the oldest messages beyond them, at most <see cref="PruneBatch"/>.</summary>
    private async Task<StorePruned?> PruneStoreAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        var parts = new List<string>();
        await using var delete = new NpgsqlCommand { Connection = connection, Transaction = transaction };
        if (_retention.Count > 0)
        {
            // The newest Count messages stay: everything at or below the id just past them goes (a walk of Count
            // primary-key entries, not of the table).
            parts.Add("SELECT id FROM messages WHERE id <= coalesce((SELECT id FROM messages ORDER BY id DESC OFFSET @count LIMIT 1), 0)");
            delete.Parameters.AddWithValue("count", _retention.Count);
        }

        if (_retention.Age is { } age)
        {
            parts.Add("SELECT id FROM messages WHERE received_at < @age");
            delete.Parameters.AddWithValue("age", (_time.GetUtcNow() - age).ToUniversalTime());
        }

        if (_retention.Size > 0)
        {
            parts.Add("SELECT id FROM (SELECT id, sum(size) OVER (ORDER BY id DESC) AS newer FROM messages) AS s WHERE newer > @size");
            delete.Parameters.AddWithValue("size", _retention.Size);
        }

        delete.CommandText = $"""
            WITH victims AS ({string.Join(" UNION ", parts)} ORDER BY id LIMIT {PruneBatch})
            DELETE FROM messages AS m USING victims AS v WHERE m.id = v.id RETURNING m.id, m.size
            """;
        long first = long.MaxValue, last = 0, messages = 0, bytes = 0;
        await using (var reader = await delete.ExecuteReaderAsync().ConfigureAwait(false))
        {
            while (await reader.ReadAsync().ConfigureAwait(false))
            {
                var id = reader.GetInt64(0);
                first = Math.Min(first, id);
                last = Math.Max(last, id);
                messages++;
                bytes += reader.GetInt64(1);
            }
        }

        _morePrune |= messages == PruneBatch;
        return messages == 0 ? null : new StorePruned(messages, bytes, first, last);
    }

    /// <summary>
    /// Each mailbox's <c>keep:N</c>, as SQLite's writer does it: the mailbox's messages beyond its newest N leave it
    /// (at most <see cref="PruneBatch"/> per mailbox per transaction), and those then in no named mailbox leave the
    /// store. Under the same advisory lock as the store-wide prune, so two instances never prune one mailbox at once.
    /// </summary>
    private async Task<StorePruned?> PruneMailboxesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        long first = long.MaxValue, last = 0, messages = 0, bytes = 0;
        foreach (var (name, keep) in _retention.MailboxKeep)
        {
            var left = new List<long>();
            await using (var leave = new NpgsqlCommand(
                """
                DELETE FROM message_mailboxes AS mm
                USING (SELECT message_id FROM message_mailboxes WHERE name = @name ORDER BY message_id DESC OFFSET @keep LIMIT @batch) AS excess
                WHERE mm.name = @name AND mm.message_id = excess.message_id
                RETURNING mm.message_id
                """, connection, transaction))
            {
                leave.Parameters.AddWithValue("name", name);
                leave.Parameters.AddWithValue("keep", (long)keep);
                leave.Parameters.AddWithValue("batch", (long)PruneBatch);
                await using var reader = await leave.ExecuteReaderAsync().ConfigureAwait(false);
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    left.Add(reader.GetInt64(0));
                }
            }

            if (left.Count == 0)
            {
                continue;
            }

            _morePrune |= left.Count == PruneBatch;
            first = Math.Min(first, left.Min());
            last = Math.Max(last, left.Max());
            // A statement of its own: within the DELETE above, NOT EXISTS would still see the rows it deleted.
            await using var orphans = new NpgsqlCommand(
                "DELETE FROM messages AS m WHERE m.id = ANY(@ids) AND NOT EXISTS (SELECT 1 FROM message_mailboxes AS mm WHERE mm.message_id = m.id) RETURNING m.size",
                connection, transaction);
            orphans.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. left]));
            await using (var reader = await orphans.ExecuteReaderAsync().ConfigureAwait(false))
            {
                while (await reader.ReadAsync().ConfigureAwait(false))
                {
                    messages++;
                    bytes += reader.GetInt64(0);
                }
            }
        }

        return last == 0 ? null : new StorePruned(messages, bytes, first, last);
    }

    private void Release(Pending[] group, long[] ids, Exception?[] failures, StorePruned? pruned) =>
        ThreadPool.UnsafeQueueUserWorkItem(static state =>
        {
            if (state.pruned is not null)
            {
                state.onPruned?.Invoke(state.pruned);
            }

            for (var i = 0; i < state.group.Length; i++)
            {
                if (state.failures[i] is { } failure)
                {
                    state.group[i].Completion.TrySetException(failure);
                }
                else
                {
                    state.group[i].Completion.TrySetResult(state.ids[i]);
                }
            }
        }, (group, ids, failures, onPruned: _pruned, pruned), preferLocal: false);

    /// <summary>PostgreSQL text cannot hold NUL (U+0000); a message can. It becomes U+FFFD, the replacement character.</summary>
    private static string Clean(string value) => value.Contains('\0', StringComparison.Ordinal) ? value.Replace('\0', '\uFFFD') : value;

    /// <summary>What a group's transaction became.</summary>
    private enum CommitOutcome
    {
        /// <summary>Rolled back, or never committed: its sessions answer 451.</summary>
        Aborted,

        /// <summary>Committed: its sessions answer 250.</summary>
        Committed,

        /// <summary>Not known in time: its sessions answer 451 and its messages are remembered as uncertain.</summary>
        Unknown,
    }

    private sealed class PruneRequest
    {
        public static readonly PruneRequest Instance = new();
    }

    private sealed class PublishRequest
    {
        public static readonly PublishRequest Instance = new();
    }

    private sealed class Pending(MessageRecord record, byte[]? content, Func<Stream> openContent)
    {
        public MessageRecord Record { get; } = record;

        public byte[]? Content { get; } = content;

        public Func<Stream> OpenContent { get; } = openContent;

        public TaskCompletionSource<long> Completion { get; } = new();
    }
}
