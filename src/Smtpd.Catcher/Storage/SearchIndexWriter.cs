using Microsoft.Data.Sqlite;

namespace Smtpd.Catcher.Storage;

/// <summary>
/// Writes a message's rows in the search indexes (schema 4): <c>messages_fts</c> (free text),
/// <c>messages_fields_fts</c> (substring terms) and <c>message_headers</c> (<c>header:</c>). The store's writer calls
/// it in each message's transaction, and the upgrade of an older store calls it for every stored message, so both
/// fill the indexes the same way. The commands are prepared once and reused.
/// </summary>
internal sealed class SearchIndexWriter : IDisposable
{
    private readonly SqliteCommand _fullText;
    private readonly SqliteCommand _fields;
    private readonly SqliteCommand _header;

    /// <summary>Prepares the commands on <paramref name="connection"/>.</summary>
    /// <param name="connection">The open store.</param>
    /// <param name="transaction">The transaction the rows are written in, or <see langword="null"/> when the caller runs its own <c>BEGIN</c>.</param>
    public SearchIndexWriter(SqliteConnection connection, SqliteTransaction? transaction = null)
    {
        _fullText = Command(connection, transaction, "INSERT INTO messages_fts (rowid, subject, addresses, body) VALUES ($id, $subject, $addresses, $body)",
            "$id", "$subject", "$addresses", "$body");
        _fields = Command(connection, transaction, """
            INSERT INTO messages_fields_fts (rowid, from_text, to_text, cc_text, bcc_text, reply_to_text, subject, message_id)
            VALUES ($id, $from, $to, $cc, $bcc, $reply_to, $subject, $message_id)
            """, "$id", "$from", "$to", "$cc", "$bcc", "$reply_to", "$subject", "$message_id");
        _header = Command(connection, transaction, "INSERT INTO message_headers (message_id, seq, name, value) VALUES ($id, $seq, $name, $value)",
            "$id", "$seq", "$name", "$value");
    }

    /// <summary>Writes the index rows of one message.</summary>
    /// <param name="id">The message id (the rowid of its index rows).</param>
    /// <param name="record">The analysed message: its search texts and headers.</param>
    /// <param name="fullText">Whether to write the <c>messages_fts</c> row (an upgraded version 3 store has it already).</param>
    public void Insert(long id, MessageRecord record, bool fullText = true)
    {
        if (fullText)
        {
            var f = _fullText.Parameters;
            f[0].Value = id;
            f[1].Value = record.Subject ?? string.Empty;
            f[2].Value = record.SearchAddresses ?? string.Empty;
            f[3].Value = record.SearchBody ?? string.Empty;
            _fullText.ExecuteNonQuery();
        }

        var p = _fields.Parameters;
        p[0].Value = id;
        // docs/search.md "What the store provides": the header, a line feed, then the envelope, one address a line.
        p[1].Value = (record.HeaderFrom ?? string.Empty) + "\n" + record.MailFrom;
        p[2].Value = (record.HeaderTo ?? string.Empty) + "\n" + string.Join('\n', record.Recipients);
        p[3].Value = (object?)record.HeaderCc ?? DBNull.Value;
        p[4].Value = (object?)record.HeaderBcc ?? DBNull.Value;
        p[5].Value = (object?)record.HeaderReplyTo ?? DBNull.Value;
        p[6].Value = (object?)record.Subject ?? DBNull.Value;
        p[7].Value = (object?)record.MessageId ?? DBNull.Value;
        _fields.ExecuteNonQuery();

        var h = _header.Parameters;
        h[0].Value = id;
        for (var seq = 0; seq < record.SearchHeaders.Count; seq++)
        {
            h[1].Value = seq;
            h[2].Value = record.SearchHeaders[seq].Key;
            h[3].Value = record.SearchHeaders[seq].Value;
            _header.ExecuteNonQuery();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _fullText.Dispose();
        _fields.Dispose();
        _header.Dispose();
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter(name, null));
        }

        return command;
    }
}
