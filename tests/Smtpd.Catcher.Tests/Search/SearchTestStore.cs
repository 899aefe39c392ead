using System.Globalization;
using Microsoft.Data.Sqlite;
using Smtpd.Catcher.Search;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Tests.Search;

/// <summary>One message row of the search tests, with the columns search reads.</summary>
internal sealed record TestMessage(long Id)
{
    public DateTimeOffset ReceivedAt { get; init; } = new(2024, 4, 1, 12, 0, 0, TimeSpan.Zero);
    public string MailFrom { get; init; } = "sender@example.com";
    public string[] Recipients { get; init; } = ["rcpt@example.com"];
    public long Size { get; init; } = 1000;
    public string? Subject { get; init; } = "Hello";
    public string? HeaderFrom { get; init; } = "Sender <sender@example.com>";
    public string? HeaderTo { get; init; } = "rcpt@example.com";
    public string? HeaderCc { get; init; }
    public string? HeaderBcc { get; init; }
    public string? HeaderReplyTo { get; init; }
    public string? MessageId { get; init; }
    public bool IsRead { get; init; }
    public int Attachments { get; init; }
    public int InlineParts { get; init; }
    public string Body { get; init; } = "";
    public string[] Tags { get; init; } = [];
    public (string Name, string Value)[] Headers { get; init; } = [];
}

/// <summary>
/// A real SQLite database with the store's own schema (<see cref="StoreSchema"/>), in memory or in a file, for
/// compiling searches against. Rows are written as the store's writer writes them (<see cref="SearchIndexWriter"/>).
/// </summary>
internal sealed class SearchTestStore : IDisposable
{
    public SearchTestStore(string? path = null)
    {
        Connection = path is null ? StoreSchema.OpenInMemory() : StoreSchema.OpenForWriting(path);
    }

    public SqliteConnection Connection { get; }

    public void Dispose() => Connection.Dispose();

    public void Execute(string sql)
    {
        using var command = Connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Insert(params TestMessage[] messages)
    {
        using var transaction = Connection.BeginTransaction();
        using var index = new SearchIndexWriter(Connection, transaction);
        foreach (var m in messages)
        {
            using var insert = Connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = """
                INSERT INTO messages (id, received_at, mail_from, rcpt_to, client, tls, size, sha256, subject, header_from, header_to,
                                      message_id, has_attachments, is_read, header_cc, header_bcc, header_reply_to, attachments, inline_parts, snippet)
                VALUES ($id, $received_at, $mail_from, $rcpt_to, '127.0.0.1:1', 0, $size, '', $subject, $header_from, $header_to,
                        $message_id, $attachments > 0, $is_read, $header_cc, $header_bcc, $header_reply_to, $attachments, $inline_parts, '');
                """;
            insert.Parameters.AddWithValue("$id", m.Id);
            insert.Parameters.AddWithValue("$received_at", MessageRecord.FormatTime(m.ReceivedAt));
            insert.Parameters.AddWithValue("$mail_from", m.MailFrom);
            insert.Parameters.AddWithValue("$rcpt_to", CatcherJson.StringArray(m.Recipients));
            insert.Parameters.AddWithValue("$size", m.Size);
            insert.Parameters.AddWithValue("$subject", (object?)m.Subject ?? DBNull.Value);
            insert.Parameters.AddWithValue("$header_from", (object?)m.HeaderFrom ?? DBNull.Value);
            insert.Parameters.AddWithValue("$header_to", (object?)m.HeaderTo ?? DBNull.Value);
            insert.Parameters.AddWithValue("$header_cc", (object?)m.HeaderCc ?? DBNull.Value);
            insert.Parameters.AddWithValue("$header_bcc", (object?)m.HeaderBcc ?? DBNull.Value);
            insert.Parameters.AddWithValue("$header_reply_to", (object?)m.HeaderReplyTo ?? DBNull.Value);
            insert.Parameters.AddWithValue("$message_id", (object?)m.MessageId ?? DBNull.Value);
            insert.Parameters.AddWithValue("$attachments", m.Attachments);
            insert.Parameters.AddWithValue("$inline_parts", m.InlineParts);
            insert.Parameters.AddWithValue("$is_read", m.IsRead ? 1 : 0);
            insert.ExecuteNonQuery();

            // The index rows exactly as the store's writer fills them.
            index.Insert(m.Id, new MessageRecord
            {
                ReceivedAt = m.ReceivedAt,
                MailFrom = m.MailFrom,
                Recipients = m.Recipients,
                Client = "127.0.0.1:1",
                Size = m.Size,
                Sha256 = string.Empty,
                Subject = m.Subject,
                HeaderFrom = m.HeaderFrom,
                HeaderTo = m.HeaderTo,
                HeaderCc = m.HeaderCc,
                HeaderBcc = m.HeaderBcc,
                HeaderReplyTo = m.HeaderReplyTo,
                MessageId = m.MessageId,
                SearchBody = m.Body,
                // As the analyzer fills it: the envelope and every address header, space separated.
                SearchAddresses = string.Join(' ', new[] { m.MailFrom }.Concat(m.Recipients)
                    .Concat(new[] { m.HeaderFrom, m.HeaderTo, m.HeaderCc, m.HeaderBcc, m.HeaderReplyTo }.OfType<string>())),
                SearchHeaders = [.. m.Headers.Select(h => new KeyValuePair<string, string>(h.Name.ToLowerInvariant(), h.Value))],
            });
            foreach (var tag in m.Tags)
            {
                Run(transaction, "INSERT INTO message_tags (message_id, tag) VALUES ($1, $2)", m.Id, tag);
            }
        }

        transaction.Commit();
    }

    /// <summary>The ids of the messages <paramref name="query"/> matches, ascending.</summary>
    public long[] Ids(string query, TimeZoneInfo? timeZone = null)
    {
        var search = SqliteSearchCompiler.Compile(query, timeZone ?? TimeZoneInfo.Utc);
        using var command = Connection.CreateCommand();
        command.CommandText = $"SELECT id FROM messages WHERE {search.Where} ORDER BY id";
        search.AddParametersTo(command);
        using var reader = command.ExecuteReader();
        var ids = new List<long>();
        while (reader.Read())
        {
            ids.Add(reader.GetInt64(0));
        }

        return [.. ids];
    }

    public long Count(string sql)
    {
        using var command = Connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private void Run(SqliteTransaction transaction, string sql, params object[] values)
    {
        using var command = Connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters.AddWithValue("$" + (i + 1).ToString(CultureInfo.InvariantCulture), values[i]);
        }

        command.ExecuteNonQuery();
    }
}
