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
internal sealed record MessageFilter(string? From = null, string? To = null, string? Subject = null, DateTimeOffset? Since = null, int Limit = 0);

/// <summary>The store as the store commands see it: queries, content streams, deletion.</summary>
internal sealed class MessageStore : IDisposable
{
    private const string Columns = """
        id, received_at, mail_from, rcpt_to, client, helo, tls, tls_protocol, auth_user, size, sha256,
        subject, header_from, header_to, header_date, message_id, has_attachments, dsn_ret, dsn_envid, rcpt_dsn
        """;

    private readonly SqliteConnection _connection;

    private MessageStore(SqliteConnection connection) => _connection = connection;

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

    /// <summary>Deletes messages.</summary>
    /// <param name="ids">The ids.</param>
    /// <returns>The ids that were there and are now gone.</returns>
    public IReadOnlyList<long> Delete(IReadOnlyList<long> ids)
    {
        var deleted = new List<long>();
        using var transaction = _connection.BeginTransaction(deferred: false);
        using var chunks = _connection.CreateCommand();
        chunks.Transaction = transaction;
        chunks.CommandText = "DELETE FROM message_chunks WHERE chunk_key >= $id * $factor AND chunk_key < ($id + 1) * $factor";
        var chunkId = chunks.Parameters.Add(new SqliteParameter("$id", 0L));
        chunks.Parameters.AddWithValue("$factor", StoreSchema.ChunkKeyFactor);
        using var messages = _connection.CreateCommand();
        messages.Transaction = transaction;
        messages.CommandText = "DELETE FROM messages WHERE id = $id";
        var messageId = messages.Parameters.Add(new SqliteParameter("$id", 0L));
        foreach (var id in ids)
        {
            chunkId.Value = id;
            chunks.ExecuteNonQuery();
            messageId.Value = id;
            if (messages.ExecuteNonQuery() > 0)
            {
                deleted.Add(id);
            }
        }

        transaction.Commit();
        return deleted;
    }

    /// <summary>Deletes every message.</summary>
    /// <returns>How many there were.</returns>
    public int Clear()
    {
        using var transaction = _connection.BeginTransaction(deferred: false);
        StoreSchema.Execute(_connection, "DELETE FROM message_chunks", transaction);
        var count = StoreSchema.Execute(_connection, "DELETE FROM messages", transaction);
        transaction.Commit();
        return count;
    }

    /// <inheritdoc/>
    public void Dispose() => _connection.Dispose();

    private static List<MessageRecord> Read(SqliteCommand command)
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
            });
        }

        return messages;
    }
}
