using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;
using NpgsqlTypes;

namespace Smtpd.Catcher.Storage.Postgres;

/// <summary>The PostgreSQL <see cref="IMessageStore"/>: one pooled connection of the catcher's data source.</summary>
internal sealed partial class PostgresMessageStore : IMessageStore
{
    /// <summary>The columns <see cref="Read"/> expects, in its order (those of <see cref="MessageStore.Columns"/>).</summary>
    internal const string Columns = """
        id, received_at, mail_from, rcpt_to, client, helo, tls, tls_protocol, auth_user, size, sha256,
        subject, header_from, header_to, header_date, message_id, has_attachments, dsn_ret, dsn_envid, rcpt_dsn,
        header_cc, header_bcc, header_reply_to, attachments, inline_parts, snippet, tls_cipher, is_read
        """;

    private readonly NpgsqlConnection _connection;

    /// <summary>Wraps an open connection; disposing the store returns it to the pool.</summary>
    /// <param name="connection">The connection.</param>
    public PostgresMessageStore(NpgsqlConnection connection) => _connection = connection;

    /// <inheritdoc/>
    public IReadOnlyList<MessageRecord> List(MessageFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        using var command = _connection.CreateCommand();
        var sql = new StringBuilder($"SELECT {Columns} FROM messages WHERE true");
        // strpos on lower-cased text is a substring test with no wildcard to escape, as instr is on SQLite.
        if (filter.From is { Length: > 0 } from)
        {
            sql.Append(" AND (strpos(lower(mail_from), lower(@from)) > 0 OR strpos(lower(coalesce(header_from, '')), lower(@from)) > 0)");
            command.Parameters.AddWithValue("from", from);
        }

        if (filter.To is { Length: > 0 } to)
        {
            sql.Append(" AND (strpos(lower(rcpt_text), lower(@to)) > 0 OR strpos(lower(coalesce(header_to, '')), lower(@to)) > 0)");
            command.Parameters.AddWithValue("to", to);
        }

        if (filter.Subject is { Length: > 0 } subject)
        {
            sql.Append(" AND strpos(lower(coalesce(subject, '')), lower(@subject)) > 0");
            command.Parameters.AddWithValue("subject", subject);
        }

        if (filter.Since is { } since)
        {
            sql.Append(" AND received_at >= @since");
            command.Parameters.AddWithValue("since", since.ToUniversalTime());
        }

        if (filter.Query is { } query)
        {
            sql.Append(" AND (").Append(query.Where).Append(')');
            AddParameters(command, query);
        }

        sql.Append(" ORDER BY id DESC");
        if (filter.Limit > 0)
        {
            sql.Append(" LIMIT @limit");
            command.Parameters.AddWithValue("limit", filter.Limit);
        }

        command.CommandText = Dialect(sql.ToString());
        return Read(command);
    }

    /// <inheritdoc/>
    public MessageRecord? Find(long id)
    {
        using var command = Command($"SELECT {Columns} FROM messages WHERE id = @id");
        command.Parameters.AddWithValue("id", id);
        return Read(command).FirstOrDefault();
    }

    /// <inheritdoc/>
    public IReadOnlyList<long> AllIds() => ReadIds(Command("SELECT id FROM messages ORDER BY id"));

    /// <inheritdoc/>
    public Stream OpenContent(MessageRecord message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new PostgresContentStream(_connection, message.Id, message.Size);
    }

    /// <inheritdoc/>
    public Stream OpenOwnedContent(MessageRecord message)
    {
        ArgumentNullException.ThrowIfNull(message);
        // REPEATABLE READ: one snapshot for the whole download, so a delete meanwhile cannot cut it short.
        var transaction = _connection.BeginTransaction(System.Data.IsolationLevel.RepeatableRead);
        return new PostgresContentStream(_connection, message.Id, message.Size, transaction, owner: this);
    }

    /// <inheritdoc/>
    public IReadOnlyList<long> Delete(IReadOnlyList<long> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        // Chunks, tags and headers go with the row (ON DELETE CASCADE).
        using var command = Command("DELETE FROM messages WHERE id = ANY(@ids) RETURNING id");
        command.Parameters.AddWithValue("ids", ids.ToArray());
        var deleted = ReadIds(command);
        deleted.Sort();
        return deleted;
    }

    /// <inheritdoc/>
    public IReadOnlyList<long> Delete(CompiledQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        query = Refined(query);
        using var command = Command($"DELETE FROM messages WHERE ({query.Where}) RETURNING id");
        AddParameters(command, query);
        var deleted = ReadIds(command);
        deleted.Sort();
        return deleted;
    }

    /// <inheritdoc/>
    public int Clear()
    {
        using var transaction = _connection.BeginTransaction();
        // Locks the table first, so the count is exactly what TRUNCATE removes.
        PostgresSchema.Execute(_connection, "LOCK TABLE messages IN ACCESS EXCLUSIVE MODE", transaction);
        var count = Convert.ToInt32(PostgresSchema.Scalar(_connection, "SELECT count(*) FROM messages", transaction), CultureInfo.InvariantCulture);
        PostgresSchema.Execute(_connection, "TRUNCATE message_chunks, message_tags, message_headers, message_mailboxes, retry_keys, messages", transaction);
        transaction.Commit();
        return count;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Nothing here counts the whole table (docs/scaling.md "List and search at 100,000 messages"): the store's total
    /// and unread are the sums of <c>message_counts</c>, which triggers keep in every writing transaction (schema
    /// migration 4), and a search's matches are remembered by <see cref="PostgresCountCache"/> until the store's
    /// change counter moves, as SQLite's CountCache does; new messages alone add only their own counts.
    /// </remarks>
    public MessagePage Page(CompiledQuery? query, int start, int limit)
    {
        if (query is not null && TryEmptyPage(query, start, limit) is { } empty)
        {
            return empty;
        }

        PostgresStoreMark mark;
        MessagePage page;
        // One snapshot for the page and its counts, as on SQLite. Each round trip to the server costs more than these
        // statements do (the plain list's are index probes: well under a millisecond together), so they travel in
        // one command, transaction and all: the plain list is one round trip, a search two (the page, after the counts
        // say how to look for it) or three (its tags, when the store has any) and its COMMIT. The transaction is
        // plain SQL, not NpgsqlTransaction, so that BEGIN and COMMIT can ride with the statements; if anything fails,
        // it is rolled back below before the connection goes back to the pool.
        try
        {
            using var first = Command("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n" + MarkSql + ";\n" + AllTagsSql
                + (query is null ? ";\n" + PlainPageSql + ";\n" + PlainPageTagsSql + ";\nCOMMIT" : string.Empty));
            first.Parameters.AddWithValue("limit", limit);
            first.Parameters.AddWithValue("start", start);
            List<string> allTags;
            List<MessageRecord> messages = [];
            Dictionary<long, List<string>>? pageTags = null;
            using (var reader = first.ExecuteReader())
            {
                mark = ReadMark(reader);
                reader.NextResult();
                allTags = ReadStrings(reader);
                if (query is null)
                {
                    reader.NextResult();
                    messages = ReadRecords(reader);
                    reader.NextResult();
                    pageTags = ReadTags(reader);
                }
            }

            // The counts are remembered under the search as written; the statements run with its rarest trigrams.
            var refined = query is null ? null : Refined(query, mark.MaxId);
            var counts = query is null || refined is null
                ? new PageCounts(mark.Total, mark.Unread, mark.Total, mark.Unread)
                : PostgresCountCache.GetOrCount(CacheKey(query, mark), mark, () => CountMatches(refined, null), after => CountAfter(refined, after, null));
            if (refined is not null)
            {
                // No tag anywhere in the store (the list above): no message of the page has one, and the page's own
                // statement can carry the COMMIT (one round trip fewer).
                messages = PageRows(refined, start, limit, mark, counts, null, commitAfter: allTags.Count == 0, out var committed);
                pageTags = allTags.Count == 0 || messages.Count == 0 ? null : TagsOf(messages, null);
                if (!committed)
                {
                    PostgresSchema.Execute(_connection, "COMMIT");
                }
            }

            page = new MessagePage(Tagged(messages, pageTags), mark.Total, mark.Unread, counts.Matched, counts.MatchedUnread, allTags);
            DatabaseOids[StoreKey] = mark.DatabaseOid;
        }
        catch
        {
            Rollback();
            throw;
        }

        if (mark.DeltaRows > FoldAbove)
        {
            FoldCounts();
        }

        return page;
    }

    /// <summary>The database's oid per store, as the last page saw it: a search's count cache key before the first round trip.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> DatabaseOids = new(StringComparer.Ordinal);

    /// <summary>
    /// A search's page in one round trip when the remembered counts say it is empty (a search that matches nothing, a
    /// page past the last match, or a page of no rows: the counts alone, as <c>/api/v1/mailboxes</c> asks for each
    /// mailbox), as a client polling for mail that has not come asks again and again. The round trip
    /// reads the mark, the tags and the matches among the rows added since the counts were taken, and commits: if the
    /// store only gained messages since, and none of them moves a match onto the page, that is the page. Otherwise
    /// <see langword="null"/>, and <see cref="Page"/> reads the page in a transaction of its own, as it would have.
    /// </summary>
    private MessagePage? TryEmptyPage(CompiledQuery query, int start, int limit)
    {
        if (!DatabaseOids.TryGetValue(StoreKey, out var oid)
            || !PostgresCountCache.TryGet(CacheKey(query, oid), out var remembered, out var rememberedCounts)
            || (limit > 0 && start < rememberedCounts.Matched))
        {
            return null;
        }

        var refined = Refined(query);
        PostgresStoreMark mark;
        List<string> allTags;
        PageCounts added;
        try
        {
            // The count of the rows added since is planned once and its plan kept (generic), where the readers plan
            // every other search for its values (ReaderConnectionString): planning its FILTERs cost more than running
            // it over the few new rows. Its WHERE is a range of the primary key with both ends, which a generic plan
            // estimates as narrow (0.5%) whatever the statistics, so the plan is always the primary-key range scan.
            using var command = Command("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSET LOCAL plan_cache_mode = force_generic_plan;\n"
                + MarkSql + ";\n" + AllTagsSql + ";\n" + CountAfterSql(refined, bounded: true) + ";\nCOMMIT");
            command.Parameters.AddWithValue("scan_floor", remembered.MaxId);
            command.Parameters.AddWithValue("scan_ceiling", long.MaxValue);
            AddParameters(command, refined);
            using var reader = command.ExecuteReader();
            mark = ReadMark(reader);
            reader.NextResult();
            allTags = ReadStrings(reader);
            reader.NextResult();
            added = ReadCounts(reader);
        }
        catch
        {
            Rollback();
            throw;
        }

        if (mark.DatabaseOid != oid || !PostgresCountCache.TryAdvance(CacheKey(query, oid), mark, remembered.MaxId, added, out var counts) || (limit > 0 && start < counts.Matched))
        {
            return null;
        }

        if (mark.DeltaRows > FoldAbove)
        {
            FoldCounts();
        }

        return new MessagePage([], mark.Total, mark.Unread, counts.Matched, counts.MatchedUnread, allTags);
    }

    /// <summary>Ends a failed transaction before the connection goes back to the pool.</summary>
    private void Rollback()
    {
        try
        {
            // Outside a transaction (BEGIN itself failed) ROLLBACK only warns.
            PostgresSchema.Execute(_connection, "ROLLBACK");
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
        {
            // The connection is broken (or closed): the pool discards it, transaction and all.
        }
    }

    /// <summary>Where the store stands: the summed deltas of <c>message_counts</c>, their rows, the newest id and the database's oid.</summary>
    private const string MarkSql = """
        SELECT coalesce(sum(total), 0)::bigint, coalesce(sum(unread), 0)::bigint, coalesce(sum(changes), 0)::bigint, count(*),
               (SELECT coalesce(max(id), 0) FROM messages), (SELECT oid::bigint FROM pg_database WHERE datname = current_database())
        FROM message_counts
        """;

    private const string AllTagsSql = "SELECT DISTINCT tag COLLATE \"C\" FROM message_tags ORDER BY 1";

    private const string PlainPageSql = $"SELECT {Columns} FROM messages ORDER BY id DESC LIMIT @limit OFFSET @start";

    private const string PlainPageTagsSql = """
        SELECT message_id, tag FROM message_tags
        WHERE message_id IN (SELECT id FROM messages ORDER BY id DESC LIMIT @limit OFFSET @start)
        ORDER BY message_id, tag COLLATE "C"
        """;

    /// <summary>
    /// How many rows of deltas <c>message_counts</c> may gather before a reader folds them into one: summing a few
    /// hundred small rows costs tens of microseconds, and folding costs one short transaction.
    /// </summary>
    internal const int FoldAbove = 256;

    /// <summary>
    /// How many of the newest ids a common search's page is first looked for in, as on SQLite
    /// (<see cref="MessageStore.ScanWindow"/>): the counts say how common the search is, and when its page is expected
    /// among the newest ids (twice over, for bunching) a primary-key walk of those ids finds it without the search
    /// index collecting every match first.
    /// </summary>
    internal const int ScanWindow = 1000;

    private static PostgresStoreMark ReadMark(NpgsqlDataReader reader)
    {
        reader.Read();
        return new PostgresStoreMark(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(4), reader.GetInt64(3), reader.GetInt64(5));
    }

    /// <summary>
    /// Folds <c>message_counts</c>' rows into one, in a transaction of its own (READ COMMITTED). The rows deleted are
    /// the committed ones this statement sees, and the row inserted holds exactly their sums, so every snapshot sums
    /// the same before and after; a second reader folding at the same time waits for the first's deleted rows, then
    /// skips them, and never sees the first's new row, so nothing is counted twice. A writer's row is uncommitted,
    /// hence invisible, until its transaction ends, and after that no one but a folder touches it.
    /// </summary>
    internal void FoldCounts()
    {
        using var command = Command(FoldCountsSql);
        command.ExecuteNonQuery();
    }

    /// <summary>The statement of <see cref="FoldCounts"/>, which the writer also runs (<see cref="PostgresStoreWriter"/>), for an instance no one reads.</summary>
    internal const string FoldCountsSql = """
        WITH folded AS (DELETE FROM message_counts RETURNING total, unread, changes)
        INSERT INTO message_counts (xid, total, unread, changes)
        SELECT txid_current(), sum(total), sum(unread), sum(changes) FROM folded HAVING count(*) > 0
        """;

    /// <summary>The page's rows, a common search's first looked for among the newest ids (see <see cref="ScanWindow"/>).</summary>
    /// <param name="query">The search, or <see langword="null"/> for the plain list.</param>
    /// <param name="start">The page's first row.</param>
    /// <param name="limit">Its size.</param>
    /// <param name="mark">Where the store stands.</param>
    /// <param name="counts">The search's counts.</param>
    /// <param name="transaction">The transaction, when an <see cref="NpgsqlTransaction"/> holds one.</param>
    /// <param name="commitAfter">Whether the last statement may carry the plain-SQL COMMIT of the page's transaction.</param>
    /// <param name="committed">Whether it did.</param>
    /// <returns>The rows.</returns>
    private List<MessageRecord> PageRows(CompiledQuery? query, int start, int limit, PostgresStoreMark mark, PageCounts counts, NpgsqlTransaction? transaction, bool commitAfter, out bool committed)
    {
        committed = false;
        if (limit == 0 || (query is not null && start >= counts.Matched))
        {
            return [];
        }

        var expectedRows = 2.0 * ((long)start + limit) * mark.Total / Math.Max(1, counts.Matched);
        if (query is not null && expectedRows <= ScanWindow && mark.Total > ScanWindow)
        {
            // The newest ids by the primary key, each tested with the search: the matches among the newest ids are
            // the newest matches, so a full page here is the page.
            using var windowed = Command($"SELECT {Columns} FROM messages WHERE messages.id > @scan_floor AND ({query.Where}) ORDER BY id DESC LIMIT @limit OFFSET @start");
            windowed.Transaction = transaction;
            windowed.Parameters.AddWithValue("scan_floor", mark.MaxId - ScanWindow);
            windowed.Parameters.AddWithValue("limit", limit);
            windowed.Parameters.AddWithValue("start", start);
            AddParameters(windowed, query);
            var rows = Read(windowed);
            if (rows.Count == limit)
            {
                return rows;
            }
        }

        var where = query is null ? string.Empty : $" WHERE ({query.Where})";
        using var command = Command($"SELECT {Columns} FROM messages{where} ORDER BY id DESC LIMIT @limit OFFSET @start" + (commitAfter ? ";\nCOMMIT" : string.Empty));
        command.Transaction = transaction;
        command.Parameters.AddWithValue("limit", limit);
        command.Parameters.AddWithValue("start", start);
        AddParameters(command, query);
        var page = Read(command);
        committed = commitAfter;
        return page;
    }

    /// <summary>A search's matches and unread matches, counted in full.</summary>
    private PageCounts CountMatches(CompiledQuery query, NpgsqlTransaction? transaction)
    {
        using var command = Command($"SELECT count(*), count(*) FILTER (WHERE NOT is_read) FROM messages WHERE ({query.Where})");
        command.Transaction = transaction;
        AddParameters(command, query);
        using var reader = command.ExecuteReader();
        reader.Read();
        return new PageCounts(0, 0, reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>
    /// The counts of the messages after id <paramref name="after"/> alone (a primary-key range): every one of them,
    /// for <see cref="PostgresCountCache"/> to check that they are all the store gained, and the search's matches among them.
    /// </summary>
    private PageCounts CountAfter(CompiledQuery query, long after, NpgsqlTransaction? transaction)
    {
        using var command = Command(CountAfterSql(query));
        command.Transaction = transaction;
        command.Parameters.AddWithValue("scan_floor", after);
        AddParameters(command, query);
        using var reader = command.ExecuteReader();
        return ReadCounts(reader);
    }

    /// <summary>The statement of <see cref="CountAfter"/>, its floor in <c>@scan_floor</c>.</summary>
    private static string CountAfterSql(CompiledQuery query, bool bounded = false) => $"""
        SELECT count(*), count(*) FILTER (WHERE NOT is_read), count(*) FILTER (WHERE ({query.Where})), count(*) FILTER (WHERE ({query.Where}) AND NOT is_read)
        FROM messages WHERE messages.id > @scan_floor{(bounded ? " AND messages.id <= @scan_ceiling" : string.Empty)}
        """;

    private static PageCounts ReadCounts(NpgsqlDataReader reader)
    {
        reader.Read();
        return new PageCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    /// <summary>
    /// What identifies a search's counts: this database (its server, name and oid, so a database dropped and created
    /// again under the same name is another), the expression and its parameters' types and values.
    /// </summary>
    private string CacheKey(CompiledQuery query, PostgresStoreMark mark) => CacheKey(query, mark.DatabaseOid);

    private string CacheKey(CompiledQuery query, long databaseOid)
    {
        var key = new StringBuilder(StoreKey).Append('/').Append(databaseOid.ToString(CultureInfo.InvariantCulture)).Append('\0').Append(query.Where);
        foreach (var (name, value) in query.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            // The type is part of the key: 1 and '1' compare differently in SQL.
            key.Append('\0').Append(name).Append('=').Append(value?.GetType().Name).Append(':').Append(Convert.ToString(value, CultureInfo.InvariantCulture));
        }

        return key.ToString();
    }

    /// <inheritdoc/>
    public long? Latest(CompiledQuery? query)
    {
        query = query is null ? null : Refined(query);
        using var command = Command(query is null
            ? "SELECT max(id) FROM messages"
            : $"SELECT id FROM messages WHERE ({query.Where}) ORDER BY id DESC LIMIT 1");
        AddParameters(command, query);
        return command.ExecuteScalar() is long id ? id : null;
    }

    /// <inheritdoc/>
    public bool Matches(CompiledQuery query, long id)
    {
        ArgumentNullException.ThrowIfNull(query);
        using var command = Command($"SELECT 1 FROM messages WHERE id = @id AND ({query.Where})");
        command.Parameters.AddWithValue("id", id);
        AddParameters(command, query);
        return command.ExecuteScalar() is not null;
    }

    /// <inheritdoc/>
    public MessageRecord? FindWithTags(long id)
    {
        using var command = Command($"SELECT {Columns} FROM messages WHERE id = @id");
        command.Parameters.AddWithValue("id", id);
        return WithTags(Read(command), null).FirstOrDefault();
    }

    /// <inheritdoc/>
    public IReadOnlyList<long> SetRead(IReadOnlyList<long> ids, bool read)
    {
        ArgumentNullException.ThrowIfNull(ids);
        using var command = Command("UPDATE messages SET is_read = @read WHERE id = ANY(@ids) AND is_read <> @read RETURNING id");
        command.Parameters.AddWithValue("read", read);
        command.Parameters.AddWithValue("ids", ids.ToArray());
        var changed = ReadIds(command);
        // In the order asked, as SQLite answers.
        return [.. ids.Distinct().Where(changed.Contains)];
    }

    /// <inheritdoc/>
    public IReadOnlyList<long> SetRead(CompiledQuery? query, bool read)
    {
        query = query is null ? null : Refined(query);
        using var command = Command($"UPDATE messages SET is_read = @read WHERE is_read <> @read{(query is null ? string.Empty : $" AND ({query.Where})")} RETURNING id");
        command.Parameters.AddWithValue("read", read);
        AddParameters(command, query);
        var ids = ReadIds(command);
        ids.Sort();
        return ids;
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> AllTags() => AllTags(null);

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, long> TagCounts()
    {
        using var command = Command("SELECT tag, count(*) FROM message_tags GROUP BY tag ORDER BY tag COLLATE \"C\"");
        using var reader = command.ExecuteReader();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        while (reader.Read())
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }

    /// <inheritdoc/>
    public IReadOnlyList<long> SetTags(IReadOnlyList<long> ids, IReadOnlyList<string> tags)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(tags);
        using var transaction = _connection.BeginTransaction();
        using var existing = Command("SELECT id FROM messages WHERE id = ANY(@ids) FOR UPDATE");
        existing.Transaction = transaction;
        existing.Parameters.AddWithValue("ids", ids.ToArray());
        var present = ReadIds(existing).ToHashSet();
        var updated = ids.Distinct().Where(present.Contains).ToArray();
        using var clear = Command("DELETE FROM message_tags WHERE message_id = ANY(@ids)");
        clear.Transaction = transaction;
        clear.Parameters.AddWithValue("ids", updated);
        clear.ExecuteNonQuery();
        using var insert = Command("INSERT INTO message_tags (message_id, tag) SELECT i, t FROM unnest(@ids) AS i CROSS JOIN unnest(@tags) AS t ON CONFLICT DO NOTHING");
        insert.Transaction = transaction;
        insert.Parameters.AddWithValue("ids", updated);
        insert.Parameters.AddWithValue("tags", tags.ToArray());
        insert.ExecuteNonQuery();
        transaction.Commit();
        return updated;
    }

    /// <inheritdoc/>
    public IReadOnlyList<long> RenameTag(string from, string to)
    {
        using var transaction = _connection.BeginTransaction();
        using var insert = Command("INSERT INTO message_tags (message_id, tag) SELECT message_id, @to FROM message_tags WHERE tag = @from ON CONFLICT DO NOTHING");
        insert.Transaction = transaction;
        insert.Parameters.AddWithValue("from", from);
        insert.Parameters.AddWithValue("to", to);
        insert.ExecuteNonQuery();
        using var delete = Command("DELETE FROM message_tags WHERE tag = @from AND @from <> @to RETURNING message_id");
        delete.Transaction = transaction;
        delete.Parameters.AddWithValue("from", from);
        delete.Parameters.AddWithValue("to", to);
        var ids = ReadIds(delete);
        transaction.Commit();
        return ids;
    }

    /// <inheritdoc/>
    public IReadOnlyList<long> DeleteTag(string tag)
    {
        using var command = Command("DELETE FROM message_tags WHERE tag = @tag RETURNING message_id");
        command.Parameters.AddWithValue("tag", tag);
        return ReadIds(command);
    }

    /// <inheritdoc/>
    public long DatabaseSize() =>
        Convert.ToInt64(PostgresSchema.Scalar(_connection, "SELECT pg_database_size(current_database())"), CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public (IReadOnlyList<long> Removed, IReadOnlyList<long> Deleted) RemoveFromMailbox(IReadOnlyList<long> ids, string mailbox)
    {
        ArgumentNullException.ThrowIfNull(ids);
        using var transaction = _connection.BeginTransaction();
        using var leave = Command("DELETE FROM message_mailboxes WHERE name = @name AND message_id = ANY(@ids) RETURNING message_id");
        leave.Transaction = transaction;
        leave.Parameters.AddWithValue("name", mailbox);
        leave.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. ids]));
        var left = ReadIds(leave).ToHashSet();
        // A separate statement, not a CTE of the one above: a statement sees the snapshot it started with, so the
        // NOT EXISTS would still find the membership rows the same statement deleted.
        using var orphans = Command("DELETE FROM messages AS m WHERE m.id = ANY(@ids) AND NOT EXISTS (SELECT 1 FROM message_mailboxes AS mm WHERE mm.message_id = m.id) RETURNING m.id");
        orphans.Transaction = transaction;
        orphans.Parameters.Add(new NpgsqlParameter<long[]>("ids", [.. left]));
        var gone = ReadIds(orphans).ToHashSet();
        transaction.Commit();
        // In the order asked, as SQLite answers (it works through the ids one by one).
        var removed = ids.Distinct().Where(left.Contains).ToList();
        return (removed, removed.Where(gone.Contains).ToList());
    }

    /// <inheritdoc/>
    public IReadOnlyList<long> Ids(CompiledQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        query = Refined(query);
        using var command = Command($"SELECT id FROM messages WHERE ({query.Where}) ORDER BY id");
        AddParameters(command, query);
        return ReadIds(command);
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> MailboxesOf(long id)
    {
        using var command = Command("SELECT name FROM message_mailboxes WHERE message_id = @id");
        command.Parameters.AddWithValue("id", id);
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        // Sorted here, not by ORDER BY: the database's collation need not be ordinal.
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <inheritdoc/>
    public void Dispose() => _connection.Dispose();

    /// <summary>Reads the records a <c>SELECT</c> of <see cref="Columns"/> returns.</summary>
    /// <param name="command">The query.</param>
    /// <returns>The records.</returns>
    internal static List<MessageRecord> Read(NpgsqlCommand command)
    {
        using var reader = command.ExecuteReader();
        return ReadRecords(reader);
    }

    /// <summary>Reads the records of the reader's current result, a <c>SELECT</c> of <see cref="Columns"/>.</summary>
    /// <param name="reader">The reader.</param>
    /// <returns>The records.</returns>
    private static List<MessageRecord> ReadRecords(NpgsqlDataReader reader)
    {
        var messages = new List<MessageRecord>();
        while (reader.Read())
        {
            messages.Add(new MessageRecord
            {
                Id = reader.GetInt64(0),
                ReceivedAt = new DateTimeOffset(reader.GetDateTime(1).ToUniversalTime(), TimeSpan.Zero),
                MailFrom = reader.GetString(2),
                Recipients = reader.GetFieldValue<string[]>(3),
                Client = reader.GetString(4),
                Helo = reader.IsDBNull(5) ? null : reader.GetString(5),
                Tls = reader.GetBoolean(6),
                TlsProtocol = reader.IsDBNull(7) ? null : reader.GetString(7),
                User = reader.IsDBNull(8) ? null : reader.GetString(8),
                Size = reader.GetInt64(9),
                Sha256 = reader.GetString(10),
                Subject = reader.IsDBNull(11) ? null : reader.GetString(11),
                HeaderFrom = reader.IsDBNull(12) ? null : reader.GetString(12),
                HeaderTo = reader.IsDBNull(13) ? null : reader.GetString(13),
                HeaderDate = reader.IsDBNull(14) ? null : reader.GetString(14),
                MessageId = reader.IsDBNull(15) ? null : reader.GetString(15),
                HasAttachments = reader.GetBoolean(16),
                DsnReturn = reader.IsDBNull(17) ? null : reader.GetString(17),
                DsnEnvelopeId = reader.IsDBNull(18) ? null : reader.GetString(18),
                RecipientDsn = reader.IsDBNull(19) ? [] : CatcherJson.ParseRecipientDsnArray(reader.GetString(19)),
                HeaderCc = reader.IsDBNull(20) ? null : reader.GetString(20),
                HeaderBcc = reader.IsDBNull(21) ? null : reader.GetString(21),
                HeaderReplyTo = reader.IsDBNull(22) ? null : reader.GetString(22),
                Attachments = reader.GetInt32(23),
                InlineParts = reader.GetInt32(24),
                Snippet = reader.IsDBNull(25) ? null : reader.GetString(25),
                TlsCipher = reader.IsDBNull(26) ? null : reader.GetString(26),
                IsRead = reader.GetBoolean(27),
            });
        }

        return messages;
    }

    /// <summary>
    /// Turns the <c>$name</c> parameters of a <see cref="CompiledQuery"/> (the convention both compilers and the live
    /// wait's <c>$live_id</c> follow) into Npgsql's <c>@name</c>. The expressions hold no string literal with a
    /// <c>$</c>, so a plain rewrite is exact.
    /// </summary>
    /// <param name="sql">The statement.</param>
    /// <returns>The statement for Npgsql.</returns>
    internal static string Dialect(string sql) => sql.Contains('$', StringComparison.Ordinal) ? DollarParameter().Replace(sql, "@$1") : sql;

    /// <summary>Adds a compiled query's parameters under their Npgsql names.</summary>
    /// <param name="command">The command.</param>
    /// <param name="query">The query, or <see langword="null"/>.</param>
    internal static void AddParameters(NpgsqlCommand command, CompiledQuery? query)
    {
        if (query is null)
        {
            return;
        }

        foreach (var (name, value) in query.Parameters)
        {
            command.Parameters.AddWithValue(name.TrimStart('$', '@'), value ?? DBNull.Value);
        }
    }

    [GeneratedRegex(@"\$([A-Za-z_][A-Za-z0-9_]*)", RegexOptions.CultureInvariant)]
    private static partial Regex DollarParameter();

    private NpgsqlCommand Command(string sql) => new(Dialect(sql), _connection);

    /// <summary>
    /// The search with its trigram lookups on the rarest trigrams (<see cref="PostgresMatchRefiner"/>); the same
    /// messages match. With <paramref name="newest"/> unknown, a remembered choice is taken whatever its age.
    /// </summary>
    private CompiledQuery Refined(CompiledQuery query, long? newest = null) => PostgresMatchRefiner.Refine(_connection, StoreKey, query, newest);

    /// <summary>The server and database this store reads (its oid, which tells a database made again under the same name apart, is in the mark).</summary>
    private string StoreKey => $"{_connection.Host}:{_connection.Port.ToString(CultureInfo.InvariantCulture)}/{_connection.Database}";

    private static List<long> ReadIds(NpgsqlCommand command)
    {
        using (command)
        {
            using var reader = command.ExecuteReader();
            var ids = new List<long>();
            while (reader.Read())
            {
                ids.Add(reader.GetInt64(0));
            }

            return ids;
        }
    }

    private List<MessageRecord> WithTags(List<MessageRecord> messages, NpgsqlTransaction? transaction) =>
        messages.Count == 0 ? messages : Tagged(messages, TagsOf(messages, transaction));

    private static List<MessageRecord> Tagged(List<MessageRecord> messages, Dictionary<long, List<string>>? tags) =>
        tags is null || tags.Count == 0 ? messages : [.. messages.Select(m => tags.TryGetValue(m.Id, out var list) ? m with { Tags = list } : m)];

    private Dictionary<long, List<string>> TagsOf(List<MessageRecord> messages, NpgsqlTransaction? transaction)
    {
        using var command = Command("SELECT message_id, tag FROM message_tags WHERE message_id = ANY(@ids) ORDER BY message_id, tag COLLATE \"C\"");
        command.Transaction = transaction;
        command.Parameters.AddWithValue("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint, messages.Select(m => m.Id).ToArray());
        using var reader = command.ExecuteReader();
        return ReadTags(reader);
    }

    /// <summary>Reads (message id, tag) rows, ordered by id, into each message's tags.</summary>
    private static Dictionary<long, List<string>> ReadTags(NpgsqlDataReader reader)
    {
        var tags = new Dictionary<long, List<string>>();
        while (reader.Read())
        {
            var id = reader.GetInt64(0);
            if (!tags.TryGetValue(id, out var list))
            {
                tags[id] = list = [];
            }

            list.Add(reader.GetString(1));
        }

        return tags;
    }

    private List<string> AllTags(NpgsqlTransaction? transaction)
    {
        using var command = Command(AllTagsSql);
        command.Transaction = transaction;
        using var reader = command.ExecuteReader();
        return ReadStrings(reader);
    }

    private static List<string> ReadStrings(NpgsqlDataReader reader)
    {
        var strings = new List<string>();
        while (reader.Read())
        {
            strings.Add(reader.GetString(0));
        }

        return strings;
    }
}

/// <summary>Where a PostgreSQL store stood in one snapshot.</summary>
/// <param name="Total">Every message (the sum of <c>message_counts.total</c>).</param>
/// <param name="Unread">Every unread message.</param>
/// <param name="Changes">The change counter: deletes, updates, tag and mailbox changes, never a new message.</param>
/// <param name="MaxId">The newest message id.</param>
/// <param name="DeltaRows">How many rows of deltas were summed (when to fold them).</param>
/// <param name="DatabaseOid">The database's oid.</param>
internal readonly record struct PostgresStoreMark(long Total, long Unread, long Changes, long MaxId, long DeltaRows, long DatabaseOid);

/// <summary>
/// A search's counts, remembered per database for every connection of the process until the store changes, the
/// PostgreSQL counterpart of SQLite's CountCache. Counting every match reads every matching row (a fifth of 100,000
/// messages for <c>subject:invoice</c>), while a page reads fifty, and clients page and poll with the same search.
/// </summary>
/// <remarks>
/// An entry is reused only when the change counter (<see cref="PostgresStoreMark.Changes"/>) is where it was: then
/// nothing was deleted, updated, tagged or taken out of a mailbox in between, and the store only gained messages. Ids
/// are taken when a row is inserted, not when it commits, so with two writers the rows gained need not all lie above
/// the old newest id: the counts of the rows above it are added only when they number exactly what the total grew
/// by, and otherwise the search is counted in full. So a count is never stale, whichever instance wrote.
/// </remarks>
internal static class PostgresCountCache
{
    /// <summary>The most searches remembered; past it the cache starts over.</summary>
    private const int MaxEntries = 256;

    /// <summary>Past this many new ids, a full count (which may use the indexes) is as cheap as counting the new rows.</summary>
    private const long MaxAddedToCount = 20_000;

    private static readonly Dictionary<string, (PostgresStoreMark Mark, PageCounts Counts)> Entries = new(StringComparer.Ordinal);
    private static readonly Lock Gate = new();

    /// <summary>The search's counts at <paramref name="mark"/>.</summary>
    /// <param name="key">The database and search.</param>
    /// <param name="mark">Where the store stands in the counts' snapshot.</param>
    /// <param name="count">Counts the search in full, in that snapshot.</param>
    /// <param name="countAfter">Counts every message and the search's matches after an id, in that snapshot.</param>
    /// <returns>The counts; only <see cref="PageCounts.Matched"/> and <see cref="PageCounts.MatchedUnread"/> are meant.</returns>
    public static PageCounts GetOrCount(string key, PostgresStoreMark mark, Func<PageCounts> count, Func<long, PageCounts> countAfter)
    {
        bool found;
        (PostgresStoreMark Mark, PageCounts Counts) entry;
        lock (Gate)
        {
            found = Entries.TryGetValue(key, out entry);
        }

        if (found && SameStore(entry.Mark, mark))
        {
            return entry.Counts;
        }

        var counts = found && OnlyGained(entry.Mark, mark) && countAfter(entry.Mark.MaxId) is var added && added.Total == mark.Total - entry.Mark.Total
            ? new PageCounts(0, 0, entry.Counts.Matched + added.Matched, entry.Counts.MatchedUnread + added.MatchedUnread)
            : count();

        lock (Gate)
        {
            if (Entries.Count >= MaxEntries)
            {
                Entries.Clear();
            }

            Entries[key] = (mark, counts);
        }

        return counts;
    }

    /// <summary>The counts remembered for <paramref name="key"/>, if any.</summary>
    /// <param name="key">The database and search.</param>
    /// <param name="mark">Where the store stood when they were taken.</param>
    /// <param name="counts">The counts.</param>
    /// <returns>Whether there are any.</returns>
    public static bool TryGet(string key, out PostgresStoreMark mark, out PageCounts counts)
    {
        lock (Gate)
        {
            var found = Entries.TryGetValue(key, out var entry);
            (mark, counts) = found ? entry : (default, new PageCounts(0, 0, 0, 0));
            return found;
        }
    }

    /// <summary>
    /// The counts at <paramref name="mark"/> from the remembered ones and the counts of the rows above
    /// <paramref name="floor"/> (the remembered newest id), taken in <paramref name="mark"/>'s snapshot; remembered in
    /// turn. False when the store did more than gain those rows since (then only a count in full can tell).
    /// </summary>
    /// <param name="key">The database and search.</param>
    /// <param name="mark">Where the store stands now.</param>
    /// <param name="floor">The id the rows were counted above.</param>
    /// <param name="added">Their counts.</param>
    /// <param name="counts">The counts at <paramref name="mark"/>.</param>
    /// <returns>Whether they could be told.</returns>
    public static bool TryAdvance(string key, PostgresStoreMark mark, long floor, PageCounts added, out PageCounts counts)
    {
        lock (Gate)
        {
            counts = new PageCounts(0, 0, 0, 0);
            if (!Entries.TryGetValue(key, out var entry))
            {
                return false;
            }

            if (SameStore(entry.Mark, mark))
            {
                counts = entry.Counts;
                return true;
            }

            if (entry.Mark.MaxId != floor || !OnlyGained(entry.Mark, mark) || added.Total != mark.Total - entry.Mark.Total)
            {
                return false;
            }

            counts = new PageCounts(0, 0, entry.Counts.Matched + added.Matched, entry.Counts.MatchedUnread + added.MatchedUnread);
            Entries[key] = (mark, counts);
            return true;
        }
    }

    /// <summary>Nothing changed and nothing was added between the two marks.</summary>
    private static bool SameStore(PostgresStoreMark was, PostgresStoreMark now) =>
        was.Changes == now.Changes && was.Total == now.Total && was.MaxId == now.MaxId;

    /// <summary>Nothing but new messages can lie between the two marks, few enough to count one by one.</summary>
    private static bool OnlyGained(PostgresStoreMark was, PostgresStoreMark now) =>
        was.Changes == now.Changes && was.Total <= now.Total && was.MaxId <= now.MaxId && now.MaxId - was.MaxId <= MaxAddedToCount;
}
