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
        PostgresSchema.Execute(_connection, "TRUNCATE message_chunks, message_tags, message_headers, message_mailboxes, messages", transaction);
        transaction.Commit();
        return count;
    }

    /// <inheritdoc/>
    public MessagePage Page(CompiledQuery? query, int start, int limit)
    {
        // One snapshot for the page and its counts, as on SQLite.
        using var transaction = _connection.BeginTransaction(System.Data.IsolationLevel.RepeatableRead);
        var where = query is null ? string.Empty : $" WHERE ({query.Where})";
        using var command = Command($"SELECT {Columns} FROM messages{where} ORDER BY id DESC LIMIT @limit OFFSET @start");
        command.Transaction = transaction;
        command.Parameters.AddWithValue("limit", limit);
        command.Parameters.AddWithValue("start", start);
        AddParameters(command, query);
        var messages = WithTags(Read(command), transaction);
        using var counts = Command(query is null
            ? "SELECT count(*), count(*) FILTER (WHERE NOT is_read), 0::bigint, 0::bigint FROM messages"
            : $"SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM messages WHERE NOT is_read), count(*), count(*) FILTER (WHERE NOT is_read) FROM messages WHERE ({query.Where})");
        counts.Transaction = transaction;
        AddParameters(counts, query);
        long total, unread, matched, matchedUnread;
        using (var reader = counts.ExecuteReader())
        {
            reader.Read();
            total = reader.GetInt64(0);
            unread = reader.GetInt64(1);
            matched = query is null ? total : reader.GetInt64(2);
            matchedUnread = query is null ? unread : reader.GetInt64(3);
        }

        var tags = AllTags(transaction);
        transaction.Commit();
        return new MessagePage(messages, total, unread, matched, matchedUnread, tags);
    }

    /// <inheritdoc/>
    public long? Latest(CompiledQuery? query)
    {
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
    public IReadOnlyDictionary<string, (long Total, long Unread)> MailboxCounts()
    {
        using var command = Command("""
            SELECT mm.name, count(*), count(*) FILTER (WHERE NOT m.is_read)
            FROM message_mailboxes AS mm JOIN messages AS m ON m.id = mm.message_id
            GROUP BY mm.name
            """);
        using var reader = command.ExecuteReader();
        var counts = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        while (reader.Read())
        {
            counts[reader.GetString(0)] = (reader.GetInt64(1), reader.GetInt64(2));
        }

        return counts;
    }

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

    private List<MessageRecord> WithTags(List<MessageRecord> messages, NpgsqlTransaction? transaction)
    {
        if (messages.Count == 0)
        {
            return messages;
        }

        using var command = Command("SELECT message_id, tag FROM message_tags WHERE message_id = ANY(@ids) ORDER BY message_id, tag COLLATE \"C\"");
        command.Transaction = transaction;
        command.Parameters.AddWithValue("ids", NpgsqlDbType.Array | NpgsqlDbType.Bigint, messages.Select(m => m.Id).ToArray());
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

        return tags.Count == 0 ? messages : [.. messages.Select(m => tags.TryGetValue(m.Id, out var list) ? m with { Tags = list } : m)];
    }

    private List<string> AllTags(NpgsqlTransaction? transaction)
    {
        using var command = Command("SELECT DISTINCT tag COLLATE \"C\" FROM message_tags ORDER BY 1");
        command.Transaction = transaction;
        using var reader = command.ExecuteReader();
        var tags = new List<string>();
        while (reader.Read())
        {
            tags.Add(reader.GetString(0));
        }

        return tags;
    }
}
