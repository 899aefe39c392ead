using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Smtpd.Catcher.Storage;

/// <summary>What <c>smtpd list</c> filters on; every filter is optional.</summary>
/// <param name="From">A substring of the envelope sender or the From header, in any letter case.</param>
/// <param name="To">A substring of a recipient or the To header, in any letter case.</param>
/// <param name="Subject">A substring of the subject, in any letter case.</param>
/// <param name="Since">Only messages received at or after this time.</param>
/// <param name="Limit">The most messages to return, newest first; 0 for all.</param>
/// <param name="Query">A compiled search (<c>--query</c>) the messages must match too.</param>
internal sealed record MessageFilter(string? From = null, string? To = null, string? Subject = null, DateTimeOffset? Since = null, int Limit = 0, CompiledQuery? Query = null);

/// <summary>One page of the list, with the counts Mailpit's list answer carries.</summary>
/// <param name="Messages">The page, newest first.</param>
/// <param name="Total">Every message in the store.</param>
/// <param name="Unread">Every unread message in the store.</param>
/// <param name="Matched">The messages the search matched (<see cref="Total"/> without a search).</param>
/// <param name="MatchedUnread">The unread messages the search matched.</param>
/// <param name="Tags">Every tag in use.</param>
internal sealed record MessagePage(IReadOnlyList<MessageRecord> Messages, long Total, long Unread, long Matched, long MatchedUnread, IReadOnlyList<string> Tags);

/// <summary>The store as the store commands and the HTTP API see it: queries, content streams, tags, deletion.</summary>
internal sealed class MessageStore : IMessageStore
{
    /// <summary>The columns <see cref="Read"/> expects, in its order.</summary>
    internal const string Columns = """
        id, received_at, mail_from, rcpt_to, client, helo, tls, tls_protocol, auth_user, size, sha256,
        subject, header_from, header_to, header_date, message_id, has_attachments, dsn_ret, dsn_envid, rcpt_dsn,
        header_cc, header_bcc, header_reply_to, attachments, inline_parts, snippet, tls_cipher, is_read
        """;

    private readonly SqliteConnection _connection;

    private MessageStore(SqliteConnection connection) => _connection = connection;

    /// <summary>
    /// Opens a store that a running catcher writes, for one HTTP request: the connection comes from
    /// Microsoft.Data.Sqlite's pool (opening a SQLite file and reading its schema per request would dominate a list
    /// request), and waits for the writer's lock like every other connection.
    /// </summary>
    /// <param name="path">The database file, already created by the catcher's writer.</param>
    /// <returns>The store.</returns>
    public static MessageStore OpenPooled(string path)
    {
        var connection = new SqliteConnection(PooledConnectionString(path));
        try
        {
            connection.Open();
            // The API's own writes (read marks, tags, deletes) commit without waiting for an fsync: in WAL mode,
            // synchronous=NORMAL keeps every commit across a crash of the process and can lose only the last ones on
            // a power loss (sqlite.org/pragma.html#pragma_synchronous), and the writer's next sync of the WAL makes
            // them durable with its group. Messages are unaffected: the writer syncs each one before its 250. With
            // FULL, Mailpit's GET of a message, which marks it read, waited for an fsync (docs/performance.md).
            StoreSchema.Execute(connection, $"PRAGMA busy_timeout = {StoreSchema.BusyTimeoutMilliseconds}; PRAGMA synchronous = NORMAL");
            return new MessageStore(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The connection string <see cref="OpenPooled"/> uses; clear its pool when the catcher stops.</summary>
    /// <param name="path">The database file.</param>
    /// <returns>The connection string.</returns>
    public static string PooledConnectionString(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWrite,
        Pooling = true,
        DefaultTimeout = StoreSchema.BusyTimeoutMilliseconds / 1000,
    }.ToString();

    /// <summary>Wraps an open connection; disposing the store closes it.</summary>
    /// <param name="connection">The connection.</param>
    /// <returns>The store.</returns>
    internal static MessageStore Wrap(SqliteConnection connection) => new(connection);

    /// <summary>Opens an existing store.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="readOnly">Whether only reads will follow.</param>
    /// <returns>The store.</returns>
    /// <exception cref="FileNotFoundException">There is no store at <paramref name="path"/>.</exception>
    public static MessageStore Open(string path, bool readOnly) => new(StoreSchema.OpenExisting(path, readOnly));

    /// <summary>Lists messages, newest first.</summary>
    /// <param name="filter">The filters.</param>
    /// <returns>The matching messages.</returns>
    public IReadOnlyList<MessageRecord> List(MessageFilter filter)
    {
        using var command = _connection.CreateCommand();
        var sql = new StringBuilder($"SELECT {Columns} FROM messages WHERE 1 = 1");
        // instr on lower-cased text is a substring test with no wildcard characters to escape, unlike LIKE.
        if (filter.From is { Length: > 0 } from)
        {
            sql.Append(" AND (instr(lower(mail_from), lower($from)) > 0 OR instr(lower(coalesce(header_from, '')), lower($from)) > 0)");
            command.Parameters.AddWithValue("$from", from);
        }

        if (filter.To is { Length: > 0 } to)
        {
            sql.Append(" AND (instr(lower(rcpt_to), lower($to)) > 0 OR instr(lower(coalesce(header_to, '')), lower($to)) > 0)");
            command.Parameters.AddWithValue("$to", to);
        }

        if (filter.Subject is { Length: > 0 } subject)
        {
            sql.Append(" AND instr(lower(coalesce(subject, '')), lower($subject)) > 0");
            command.Parameters.AddWithValue("$subject", subject);
        }

        if (filter.Since is { } since)
        {
            sql.Append(" AND received_at >= $since");
            command.Parameters.AddWithValue("$since", MessageRecord.FormatTime(since));
        }

        if (filter.Query is { } query)
        {
            sql.Append(" AND (").Append(query.Where).Append(')');
            AddParameters(command, query);
        }

        sql.Append(" ORDER BY id DESC");
        if (filter.Limit > 0)
        {
            sql.Append(" LIMIT $limit");
            command.Parameters.AddWithValue("$limit", filter.Limit);
        }

        command.CommandText = sql.ToString();
        return Read(command);
    }

    /// <summary>Finds one message.</summary>
    /// <param name="id">The id.</param>
    /// <returns>The message, or <see langword="null"/>.</returns>
    public MessageRecord? Find(long id)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM messages WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        return Read(command).FirstOrDefault();
    }

    /// <summary>Every id, oldest first.</summary>
    /// <returns>The ids.</returns>
    public IReadOnlyList<long> AllIds()
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT id FROM messages ORDER BY id";
        using var reader = command.ExecuteReader();
        var ids = new List<long>();
        while (reader.Read())
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }

    /// <summary>Opens the exact content of a message.</summary>
    /// <param name="message">The message, as <see cref="Find"/> returned it.</param>
    /// <returns>A seekable stream valid while the store is open.</returns>
    public Stream OpenContent(MessageRecord message) => new ChunkedContentStream(_connection, message.Id, message.Size);

    /// <summary>Deletes messages, their content, tags and index rows.</summary>
    /// <param name="ids">The ids.</param>
    /// <returns>The ids that were there and are now gone.</returns>
    public IReadOnlyList<long> Delete(IReadOnlyList<long> ids)
    {
        var deleted = new List<long>();
        using var transaction = _connection.BeginTransaction(deferred: false);
        using var messages = _connection.CreateCommand();
        messages.Transaction = transaction;
        messages.CommandText = "DELETE FROM messages WHERE id = $id";
        var messageId = messages.Parameters.Add(new SqliteParameter("$id", 0L));
        using var related = _connection.CreateCommand();
        related.Transaction = transaction;
        related.CommandText = StoreSchema.DeleteRelatedRangeSql;
        var first = related.Parameters.Add(new SqliteParameter("$first", 0L));
        var last = related.Parameters.Add(new SqliteParameter("$last", 0L));
        related.Parameters.AddWithValue("$factor", StoreSchema.ChunkKeyFactor);
        foreach (var id in ids)
        {
            messageId.Value = id;
            if (messages.ExecuteNonQuery() > 0)
            {
                first.Value = id;
                last.Value = id;
                related.ExecuteNonQuery();
                deleted.Add(id);
            }
        }

        transaction.Commit();
        return deleted;
    }

    /// <summary>Deletes every message that a search matches.</summary>
    /// <param name="query">The compiled search.</param>
    /// <returns>The ids deleted.</returns>
    public IReadOnlyList<long> Delete(CompiledQuery query) => Delete(Ids(query));

    /// <summary>Deletes every message with its content, tags and index rows.</summary>
    /// <returns>How many there were.</returns>
    public int Clear()
    {
        using var transaction = _connection.BeginTransaction(deferred: false);
        var count = Convert.ToInt32(StoreSchema.Scalar(_connection, "SELECT count(*) FROM messages", transaction), CultureInfo.InvariantCulture);
        StoreSchema.Execute(_connection, StoreSchema.DeleteAllSql, transaction);
        transaction.Commit();
        return count;
    }

    /// <summary>
    /// One page of messages, newest first, with their tags, and the counts the list shows. Only the listing
    /// columns are read (never content), and the page is an <c>ORDER BY id DESC</c> walk of the table's own rowid
    /// order, so the first page costs the same at any store size.
    /// </summary>
    /// <param name="query">A compiled search, or <see langword="null"/> for every message.</param>
    /// <param name="start">How many matching messages to skip (Mailpit's <c>start</c>).</param>
    /// <param name="limit">The most messages to return.</param>
    /// <returns>The page.</returns>
    public MessagePage Page(CompiledQuery? query, int start, int limit) => Page(query, start, limit, ScanWindow);

    /// <summary><see cref="Page(CompiledQuery?, int, int)"/> with a given scan window (tests compare the plans with it).</summary>
    /// <param name="query">A compiled search, or <see langword="null"/> for every message.</param>
    /// <param name="start">How many matching messages to skip.</param>
    /// <param name="limit">The most messages to return.</param>
    /// <param name="scanWindow">How many of the newest ids the scan plan looks at; 0 for the index plan only.</param>
    /// <returns>The page.</returns>
    internal MessagePage Page(CompiledQuery? query, int start, int limit, int scanWindow)
    {
        // Read before the snapshot starts: a commit in between makes the stamp older than the counts, which only
        // costs a recount next time, never a stale answer.
        var stamp = CountCache.Stamp(_connection);
        Search.SqliteMatchRefiner.Prepare(_connection, query);
        using var transaction = _connection.BeginTransaction(deferred: true);
        // The MATCH rewrites read the index, so they are made in the snapshot the search runs in; the counts are kept
        // under the search as written (the rewrite of the same search changes as the index does).
        // They are made only when something runs the search: cached counts of a search that matches nothing need none.
        CompiledQuery? refined = null;
        var prefixesGone = true;
        CompiledQuery? Refined()
        {
            if (query is not null && refined is null)
            {
                (refined, prefixesGone) = Search.SqliteMatchRefiner.Refine(_connection, transaction, query);
            }

            return refined;
        }

        // Counts first, in the same snapshot: they are exact, so they say how common the search is (the plan) and
        // whether the page is empty.
        var cache = CountCache.For(_connection);
        var counts = cache.GetOrCount(query, stamp, () => cache.Mark(_connection, transaction), () => Count(Refined(), transaction), after => CountAfter(Refined(), after, transaction));
        List<MessageRecord> rows = limit == 0 || (query is not null && start >= counts.Matched) ? [] : PageRows(Refined(), start, limit, scanWindow, counts, transaction, wideScan: prefixesGone);
        var messages = WithTags(rows, transaction);
        return new MessagePage(messages, counts.Total, counts.Unread, counts.Matched, counts.MatchedUnread, AllTags(transaction));
    }

    /// <summary>
    /// How many of the newest ids a search's page is first looked for in with the scan plan
    /// (<see cref="CompiledQuery.ScanWhere"/>) before the index plan is asked. A row costs about a microsecond and a
    /// half to test on a quiet 2-core machine, so the walk costs at most about 1.5 ms; a search that matches at
    /// least one message in ten (a subject word, a common domain) finds its first page of 50 there, without the index
    /// collecting every match first (tens of milliseconds at 100,000 messages). Rarer searches go to the indexes.
    /// </summary>
    internal const int ScanWindow = 1000;

    /// <summary>
    /// The page's rows. The exact counts of the same snapshot give the search's share of the store: when the page is
    /// expected within the newest <paramref name="scanWindow"/> ids (with room to spare), those are walked newest
    /// first with the scan plan and the walk stops at a full page: the matches among the newest ids are the newest
    /// matches, so a full page there is the page. Fewer (matches bunched in older mail) and the window not holding
    /// every message, or a rare search, and the index plan finds the page in the whole store.
    /// </summary>
    private List<MessageRecord> PageRows(CompiledQuery? query, int start, int limit, int scanWindow, PageCounts counts, SqliteTransaction transaction, bool wideScan)
    {
        if (query is not null && start >= counts.Matched)
        {
            return [];
        }

        // Rows to walk for start + limit matches if matches are spread evenly, twice over for bunching.
        var expectedRows = 2.0 * ((long)start + limit) * counts.Total / Math.Max(1, counts.Matched);
        if (query?.ScanWhere is { } scan && expectedRows <= scanWindow)
        {
            using var windowed = _connection.CreateCommand();
            windowed.Transaction = transaction;
            windowed.CommandText = $"SELECT {Columns} FROM messages WHERE messages.id > $scan_floor AND ({scan}) ORDER BY id DESC LIMIT $limit OFFSET $start";
            windowed.Parameters.AddWithValue("$scan_floor", WindowFloor(scanWindow, transaction));
            windowed.Parameters.AddWithValue("$limit", limit);
            windowed.Parameters.AddWithValue("$start", start);
            AddParameters(windowed, query);
            var rows = Read(windowed);
            if (rows.Count == limit || WindowHoldsEverything(scanWindow, transaction))
            {
                return rows;
            }
        }

        // The range form asks the indexes for the walked ids only, so it costs what the index entries among them cost,
        // not what the ids cost: walk the newest ids in growing windows until one holds the page. Each window starts
        // again at the newest id, so the walk costs at most 4/3 of its last window; past half the store the index
        // plan, which reads every match once, is cheaper. A free-text prefix left as a prefix query (PrefixHint) is
        // merged in full whatever the range, so it goes to the index plan at once.
        if (query is { RangeWhere: { } wide } && wideScan && scanWindow > 0)
        {
            for (var window = Math.Max(expectedRows, 4.0 * scanWindow); window <= counts.Total / 2.0; window *= 4)
            {
                var floor = WindowFloor((int)Math.Min(int.MaxValue, window), transaction);
                using var windowed = _connection.CreateCommand();
                windowed.Transaction = transaction;
                windowed.CommandText = $"SELECT {Columns} FROM messages WHERE messages.id > $scan_floor AND ({wide}) ORDER BY id DESC LIMIT $limit OFFSET $start";
                windowed.Parameters.AddWithValue("$scan_floor", floor);
                windowed.Parameters.AddWithValue("$limit", limit);
                windowed.Parameters.AddWithValue("$start", start);
                AddParameters(windowed, query);
                var rows = Read(windowed);
                if (rows.Count == limit)
                {
                    return rows;
                }
            }
        }

        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        var where = query is null ? string.Empty : $" WHERE ({query.Where})";
        command.CommandText = $"SELECT {Columns} FROM messages{where} ORDER BY id DESC LIMIT $limit OFFSET $start";
        command.Parameters.AddWithValue("$limit", limit);
        command.Parameters.AddWithValue("$start", start);
        AddParameters(command, query);
        return Read(command);
    }

    /// <summary>The id above which the newest <paramref name="scanWindow"/> ids lie.</summary>
    private long WindowFloor(int scanWindow, SqliteTransaction transaction) =>
        Convert.ToInt64(StoreSchema.Scalar(_connection, "SELECT coalesce(max(id), 0) FROM messages", transaction), CultureInfo.InvariantCulture) - scanWindow;

    /// <summary>Whether the newest <paramref name="scanWindow"/> ids reach back to the oldest message (two rowid lookups).</summary>
    private bool WindowHoldsEverything(int scanWindow, SqliteTransaction? transaction)
    {
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT coalesce(min(id), 0) > coalesce(max(id), 0) - $window FROM messages";
        command.Parameters.AddWithValue("$window", scanWindow);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) != 0;
    }

    /// <summary>
    /// The counts of the messages after id <paramref name="after"/> alone, for <see cref="CountCache"/> to add to
    /// counts it holds: one pass over those rows with the scan plan, so it costs what the new messages cost.
    /// MATERIALIZED keeps SQLite from flattening the subquery, which would test each row twice.
    /// </summary>
    private PageCounts CountAfter(CompiledQuery? query, long after, SqliteTransaction transaction)
    {
        using var counts = _connection.CreateCommand();
        counts.Transaction = transaction;
        var matches = query is null ? "1" : $"CASE WHEN ({query.ScanWhere ?? query.Where}) THEN 1 ELSE 0 END";
        counts.CommandText = $"""
            WITH added AS MATERIALIZED (SELECT is_read = 0 AS unread, {matches} AS matched FROM messages WHERE messages.id > $scan_floor)
            SELECT count(*), coalesce(sum(unread), 0), coalesce(sum(matched), 0), coalesce(sum(matched AND unread), 0) FROM added
            """;
        counts.Parameters.AddWithValue("$scan_floor", after);
        AddParameters(counts, query);
        using var reader = counts.ExecuteReader();
        reader.Read();
        return new PageCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
    }

    /// <summary>
    /// The list's counts. messages_by_read makes the two store-wide counts index counts (schema v3); the search's
    /// matches and unread matches are one pass over the matches.
    /// </summary>
    private PageCounts Count(CompiledQuery? query, SqliteTransaction transaction)
    {
        using var counts = _connection.CreateCommand();
        counts.Transaction = transaction;
        counts.CommandText = query is null
            ? "SELECT count(*), (SELECT count(*) FROM messages WHERE is_read = 0) FROM messages"
            : $"SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM messages WHERE is_read = 0), count(*), coalesce(sum(is_read = 0), 0) FROM messages WHERE ({query.Where})";
        AddParameters(counts, query);
        using var reader = counts.ExecuteReader();
        reader.Read();
        var total = reader.GetInt64(0);
        var unread = reader.GetInt64(1);
        return query is null ? new PageCounts(total, unread, total, unread) : new PageCounts(total, unread, reader.GetInt64(2), reader.GetInt64(3));
    }

    /// <summary>The newest message a search matches.</summary>
    /// <param name="query">A compiled search, or <see langword="null"/> for the newest of all.</param>
    /// <returns>Its id, or <see langword="null"/> when none matches.</returns>
    public long? Latest(CompiledQuery? query) => WithRefined(query, write: false, (refined, transaction) =>
    {
        // The index plan: without counts at hand there is no telling how common the search is, and the newest match
        // of a rare one is found by the indexes in well under a millisecond.
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = refined is null
            ? "SELECT max(id) FROM messages"
            : $"SELECT id FROM messages WHERE ({refined.Where}) ORDER BY id DESC LIMIT 1";
        AddParameters(command, refined);
        return command.ExecuteScalar() is long id ? id : (long?)null;
    });

    /// <summary>
    /// Runs <paramref name="run"/> in a transaction of its own with the search's MATCH parameters rewritten for the
    /// index as it stands in that transaction (Search.SqliteMatchRefiner), as <see cref="Page(CompiledQuery?, int, int, int)"/>
    /// does: the same messages match, and a search of common trigrams (<c>from:sender42@</c>) is a few index seeks
    /// instead of a walk of every common doclist, hundreds of milliseconds at 1,000,000 messages.
    /// </summary>
    private T WithRefined<T>(CompiledQuery? query, bool write, Func<CompiledQuery?, SqliteTransaction, T> run)
    {
        Search.SqliteMatchRefiner.Prepare(_connection, query);
        using var transaction = _connection.BeginTransaction(deferred: !write);
        var refined = query is null ? null : Search.SqliteMatchRefiner.Refine(_connection, transaction, query).Query;
        var result = run(refined, transaction);
        transaction.Commit();
        return result;
    }

    /// <summary>Whether one message matches a search.</summary>
    /// <param name="query">The compiled search.</param>
    /// <param name="id">The message id.</param>
    /// <returns>Whether the message exists and matches.</returns>
    public bool Matches(CompiledQuery query, long id)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = $"SELECT 1 FROM messages WHERE id = $id AND ({query.Where})";
        command.Parameters.AddWithValue("$id", id);
        AddParameters(command, query);
        return command.ExecuteScalar() is not null;
    }

    /// <summary>Finds one message with its tags and read flag.</summary>
    /// <param name="id">The id.</param>
    /// <returns>The message, or <see langword="null"/>.</returns>
    public MessageRecord? FindWithTags(long id)
    {
        using var transaction = _connection.BeginTransaction(deferred: true);
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT {Columns} FROM messages WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        return WithTags(Read(command), transaction).FirstOrDefault();
    }

    /// <summary>Sets the read flag of some messages.</summary>
    /// <param name="ids">The ids.</param>
    /// <param name="read">The flag.</param>
    /// <returns>The ids whose flag changed.</returns>
    public IReadOnlyList<long> SetRead(IReadOnlyList<long> ids, bool read)
    {
        var changed = new List<long>();
        using var transaction = _connection.BeginTransaction(deferred: false);
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "UPDATE messages SET is_read = $read WHERE id = $id AND is_read <> $read";
        command.Parameters.AddWithValue("$read", read ? 1 : 0);
        var idParameter = command.Parameters.Add(new SqliteParameter("$id", 0L));
        foreach (var id in ids)
        {
            idParameter.Value = id;
            if (command.ExecuteNonQuery() > 0)
            {
                changed.Add(id);
            }
        }

        transaction.Commit();
        return changed;
    }

    /// <summary>Sets the read flag of every message, or of those a search matches.</summary>
    /// <param name="query">A compiled search, or <see langword="null"/> for all.</param>
    /// <param name="read">The flag.</param>
    /// <returns>The ids whose flag changed.</returns>
    public IReadOnlyList<long> SetRead(CompiledQuery? query, bool read) => WithRefined(query, write: true, (refined, transaction) =>
    {
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"UPDATE messages SET is_read = $read WHERE is_read <> $read{(refined is null ? string.Empty : $" AND ({refined.Where})")} RETURNING id";
        command.Parameters.AddWithValue("$read", read ? 1 : 0);
        AddParameters(command, refined);
        return (IReadOnlyList<long>)ReadIds(command);
    });

    /// <summary>Every tag in use, in ordinal order.</summary>
    /// <returns>The tags.</returns>
    public IReadOnlyList<string> AllTags() => AllTags(null);

    /// <summary>How many messages carry each tag.</summary>
    /// <returns>The counts by tag.</returns>
    public IReadOnlyDictionary<string, long> TagCounts()
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT tag, count(*) FROM message_tags GROUP BY tag ORDER BY tag";
        using var reader = command.ExecuteReader();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        while (reader.Read())
        {
            counts[reader.GetString(0)] = reader.GetInt64(1);
        }

        return counts;
    }

    /// <summary>Replaces the tags of some messages (Mailpit's <c>PUT /api/v1/tags</c>); unknown ids are skipped.</summary>
    /// <param name="ids">The ids.</param>
    /// <param name="tags">The new tags; empty removes every tag.</param>
    /// <returns>The ids that exist, whose tags are now <paramref name="tags"/>.</returns>
    public IReadOnlyList<long> SetTags(IReadOnlyList<long> ids, IReadOnlyList<string> tags)
    {
        var updated = new List<long>();
        using var transaction = _connection.BeginTransaction(deferred: false);
        using var exists = _connection.CreateCommand();
        exists.Transaction = transaction;
        exists.CommandText = "SELECT 1 FROM messages WHERE id = $id";
        var existsId = exists.Parameters.Add(new SqliteParameter("$id", 0L));
        using var clear = _connection.CreateCommand();
        clear.Transaction = transaction;
        clear.CommandText = "DELETE FROM message_tags WHERE message_id = $id";
        var clearId = clear.Parameters.Add(new SqliteParameter("$id", 0L));
        using var insert = _connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT OR IGNORE INTO message_tags (message_id, tag) VALUES ($id, $tag)";
        var insertId = insert.Parameters.Add(new SqliteParameter("$id", 0L));
        var insertTag = insert.Parameters.Add(new SqliteParameter("$tag", string.Empty));
        foreach (var id in ids)
        {
            existsId.Value = id;
            if (exists.ExecuteScalar() is null)
            {
                continue;
            }

            clearId.Value = id;
            clear.ExecuteNonQuery();
            insertId.Value = id;
            foreach (var tag in tags)
            {
                insertTag.Value = tag;
                insert.ExecuteNonQuery();
            }

            updated.Add(id);
        }

        transaction.Commit();
        return updated;
    }

    /// <summary>Renames a tag on every message that has it (merging with the new name where a message has both).</summary>
    /// <param name="from">The tag.</param>
    /// <param name="to">The new name.</param>
    /// <returns>The ids of the messages whose tags changed.</returns>
    public IReadOnlyList<long> RenameTag(string from, string to)
    {
        using var transaction = _connection.BeginTransaction(deferred: false);
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT OR IGNORE INTO message_tags (message_id, tag) SELECT message_id, $to FROM message_tags WHERE tag = $from;
            DELETE FROM message_tags WHERE tag = $from AND $from <> $to RETURNING message_id;
            """;
        command.Parameters.AddWithValue("$from", from);
        command.Parameters.AddWithValue("$to", to);
        var ids = ReadIds(command);
        transaction.Commit();
        return ids;
    }

    /// <summary>Removes a tag from every message.</summary>
    /// <param name="tag">The tag.</param>
    /// <returns>The ids of the messages that had it.</returns>
    public IReadOnlyList<long> DeleteTag(string tag)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "DELETE FROM message_tags WHERE tag = $tag RETURNING message_id";
        command.Parameters.AddWithValue("$tag", tag);
        return ReadIds(command);
    }

    /// <summary>
    /// Takes messages out of one named mailbox (a delete scoped with <c>?mailbox=</c>). A message that is then in no
    /// named mailbox is deleted from the store with its content, tags and index rows; one still in another mailbox
    /// stays stored, so deleting in mailbox X never takes a message away from mailbox Y.
    /// </summary>
    /// <param name="ids">The ids; those not in the mailbox are skipped.</param>
    /// <param name="mailbox">The mailbox name.</param>
    /// <returns>The ids taken out of the mailbox, and of those the ids deleted from the store.</returns>
    public (IReadOnlyList<long> Removed, IReadOnlyList<long> Deleted) RemoveFromMailbox(IReadOnlyList<long> ids, string mailbox)
    {
        var removed = new List<long>();
        var deleted = new List<long>();
        using var transaction = _connection.BeginTransaction(deferred: false);
        using var leave = _connection.CreateCommand();
        leave.Transaction = transaction;
        leave.CommandText = "DELETE FROM message_mailboxes WHERE message_id = $id AND name = $name";
        var leaveId = leave.Parameters.Add(new SqliteParameter("$id", 0L));
        leave.Parameters.AddWithValue("$name", mailbox);
        using var orphan = _connection.CreateCommand();
        orphan.Transaction = transaction;
        orphan.CommandText = "DELETE FROM messages WHERE id = $id AND NOT EXISTS (SELECT 1 FROM message_mailboxes WHERE message_id = $id)";
        var orphanId = orphan.Parameters.Add(new SqliteParameter("$id", 0L));
        using var related = _connection.CreateCommand();
        related.Transaction = transaction;
        related.CommandText = StoreSchema.DeleteRelatedRangeSql;
        var first = related.Parameters.Add(new SqliteParameter("$first", 0L));
        var last = related.Parameters.Add(new SqliteParameter("$last", 0L));
        related.Parameters.AddWithValue("$factor", StoreSchema.ChunkKeyFactor);
        foreach (var id in ids)
        {
            leaveId.Value = id;
            if (leave.ExecuteNonQuery() == 0)
            {
                continue;
            }

            removed.Add(id);
            orphanId.Value = id;
            if (orphan.ExecuteNonQuery() > 0)
            {
                first.Value = id;
                last.Value = id;
                related.ExecuteNonQuery();
                deleted.Add(id);
            }
        }

        transaction.Commit();
        return (removed, deleted);
    }

    /// <summary>The named mailboxes one message is in, in ordinal order.</summary>
    /// <param name="id">The id.</param>
    /// <returns>The names.</returns>
    public IReadOnlyList<string> MailboxesOf(long id)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT name FROM message_mailboxes WHERE message_id = $id";
        command.Parameters.AddWithValue("$id", id);
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>The ids a query matches, oldest first.</summary>
    /// <param name="query">The compiled query.</param>
    /// <returns>The ids.</returns>
    public IReadOnlyList<long> Ids(CompiledQuery query) => WithRefined(query, write: false, (refined, transaction) =>
    {
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT id FROM messages WHERE ({refined!.Where}) ORDER BY id";
        AddParameters(command, refined);
        return (IReadOnlyList<long>)ReadIds(command);
    });

    /// <summary>The size of the database file and its WAL, for <c>/api/v1/info</c>.</summary>
    /// <returns>The size in octets.</returns>
    public long DatabaseSize() =>
        Convert.ToInt64(StoreSchema.Scalar(_connection, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"), CultureInfo.InvariantCulture);

    /// <summary>
    /// Opens the exact content of a message for streaming out, owning this store: disposing the stream closes the
    /// connection. The stream reads inside one read transaction, so a delete while a download runs cannot cut it.
    /// </summary>
    /// <param name="message">The message.</param>
    /// <returns>The stream.</returns>
    public Stream OpenOwnedContent(MessageRecord message)
    {
        var transaction = _connection.BeginTransaction(deferred: true);
        return new ChunkedContentStream(_connection, message.Id, message.Size, transaction, owner: this);
    }

    /// <inheritdoc/>
    public void Dispose() => _connection.Dispose();

    /// <summary>Reads the records a <c>SELECT</c> of <see cref="Columns"/> returns.</summary>
    /// <param name="command">The query.</param>
    /// <returns>The records.</returns>
    internal static List<MessageRecord> Read(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var messages = new List<MessageRecord>();
        while (reader.Read())
        {
            messages.Add(new MessageRecord
            {
                Id = reader.GetInt64(0),
                ReceivedAt = DateTimeOffset.Parse(reader.GetString(1), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal),
                MailFrom = reader.GetString(2),
                Recipients = CatcherJson.ParseStringArray(reader.GetString(3)),
                Client = reader.GetString(4),
                Helo = reader.IsDBNull(5) ? null : reader.GetString(5),
                Tls = reader.GetInt64(6) != 0,
                TlsProtocol = reader.IsDBNull(7) ? null : reader.GetString(7),
                User = reader.IsDBNull(8) ? null : reader.GetString(8),
                Size = reader.GetInt64(9),
                Sha256 = reader.GetString(10),
                Subject = reader.IsDBNull(11) ? null : reader.GetString(11),
                HeaderFrom = reader.IsDBNull(12) ? null : reader.GetString(12),
                HeaderTo = reader.IsDBNull(13) ? null : reader.GetString(13),
                HeaderDate = reader.IsDBNull(14) ? null : reader.GetString(14),
                MessageId = reader.IsDBNull(15) ? null : reader.GetString(15),
                HasAttachments = reader.GetInt64(16) != 0,
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
                IsRead = reader.GetInt64(27) != 0,
            });
        }

        return messages;
    }

    private static List<long> ReadIds(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var ids = new List<long>();
        do
        {
            while (reader.Read())
            {
                ids.Add(reader.GetInt64(0));
            }
        }
        while (reader.NextResult());

        return ids;
    }

    private static void AddParameters(SqliteCommand command, CompiledQuery? query)
    {
        if (query is null)
        {
            return;
        }

        foreach (var (name, value) in query.Parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
    }

    /// <summary>Loads the tags of a page of messages with one query on the <c>message_tags</c> primary key.</summary>
    private List<MessageRecord> WithTags(List<MessageRecord> messages, SqliteTransaction? transaction)
    {
        if (messages.Count == 0)
        {
            return messages;
        }

        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        var names = new string[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            names[i] = "$m" + i.ToString(CultureInfo.InvariantCulture);
            command.Parameters.AddWithValue(names[i], messages[i].Id);
        }

        command.CommandText = $"SELECT message_id, tag FROM message_tags WHERE message_id IN ({string.Join(", ", names)}) ORDER BY message_id, tag";
        var tags = new Dictionary<long, List<string>>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                var id = reader.GetInt64(0);
                if (!tags.TryGetValue(id, out var list))
                {
                    tags[id] = list = [];
                }

                list.Add(reader.GetString(1));
            }
        }

        if (tags.Count == 0)
        {
            return messages;
        }

        return messages.Select(m => tags.TryGetValue(m.Id, out var list) ? m with { Tags = list } : m).ToList();
    }

    private List<string> AllTags(SqliteTransaction? transaction)
    {
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT DISTINCT tag FROM message_tags ORDER BY tag";
        using var reader = command.ExecuteReader();
        var tags = new List<string>();
        while (reader.Read())
        {
            tags.Add(reader.GetString(0));
        }

        return tags;
    }
}
