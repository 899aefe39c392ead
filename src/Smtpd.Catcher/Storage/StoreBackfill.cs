using Microsoft.Data.Sqlite;

namespace Smtpd.Catcher.Storage;

/// <summary>
/// Indexes the messages of a store upgraded in place (from version 1, 2 or 3) so that search finds them exactly as
/// it finds new ones: each message's content is parsed again, as at ingest, and its index rows written; a store
/// older than version 3 also gets the columns version 3 added (Cc, Bcc, Reply-To, part counts, snippet). It runs in
/// the upgrade's transaction, so a store is either fully upgraded or not at all, and it runs once: a large store
/// takes a while to open the first time (about a millisecond a message), never again.
/// </summary>
internal static class StoreBackfill
{
    /// <summary>Messages read per query, so a large store is never held in memory at once.</summary>
    private const int PageSize = 500;

    /// <summary>Indexes every stored message.</summary>
    /// <param name="connection">The store, in <paramref name="transaction"/>.</param>
    /// <param name="transaction">The upgrade's write transaction.</param>
    /// <param name="fromVersion">The version the store had; below 3 the version 3 columns and the full-text rows are filled too.</param>
    public static void Run(SqliteConnection connection, SqliteTransaction transaction, int fromVersion)
    {
        using var index = new SearchIndexWriter(connection, transaction);
        using var page = connection.CreateCommand();
        page.Transaction = transaction;
        page.CommandText = $"SELECT {MessageStore.Columns} FROM messages WHERE id > $after ORDER BY id LIMIT {PageSize}";
        // AddWithValue: a constant 0L would bind to the SqliteType overload of new SqliteParameter(name, …).
        var after = page.Parameters.AddWithValue("$after", 0L);
        using var update = connection.CreateCommand();
        update.Transaction = transaction;
        update.CommandText = """
            UPDATE messages SET subject = $subject, header_from = $header_from, header_to = $header_to, header_cc = $header_cc,
                header_bcc = $header_bcc, header_reply_to = $header_reply_to, message_id = $message_id,
                attachments = $attachments, inline_parts = $inline_parts, snippet = $snippet
            WHERE id = $id
            """;
        foreach (var name in new[] { "$subject", "$header_from", "$header_to", "$header_cc", "$header_bcc", "$header_reply_to", "$message_id", "$attachments", "$inline_parts", "$snippet", "$id" })
        {
            update.Parameters.Add(new SqliteParameter(name, null));
        }

        while (true)
        {
            var stored = MessageStore.Read(page);
            if (stored.Count == 0)
            {
                return;
            }

            foreach (var message in stored)
            {
                var analyzed = Analyze(connection, transaction, message);
                if (fromVersion < 3)
                {
                    SetVersion3Columns(update, analyzed);
                }

                index.Insert(message.Id, analyzed, fullText: fromVersion < 3);
            }

            after.Value = stored[^1].Id;
        }
    }

    /// <summary>Parses the stored content; content that is missing or damaged leaves the record as stored, indexed by its columns.</summary>
    private static MessageRecord Analyze(SqliteConnection connection, SqliteTransaction transaction, MessageRecord message)
    {
        try
        {
            using var content = new ChunkedContentStream(connection, message.Id, message.Size, transaction, ownsTransaction: false);
            return MessageAnalyzer.Reanalyze(message, content);
        }
        catch (InvalidDataException)
        {
            return message with { SearchAddresses = string.Join(' ', [message.MailFrom, .. message.Recipients, message.HeaderFrom, message.HeaderTo]) };
        }
    }

    private static void SetVersion3Columns(SqliteCommand update, MessageRecord r)
    {
        var p = update.Parameters;
        p[0].Value = (object?)r.Subject ?? DBNull.Value;
        p[1].Value = (object?)r.HeaderFrom ?? DBNull.Value;
        p[2].Value = (object?)r.HeaderTo ?? DBNull.Value;
        p[3].Value = (object?)r.HeaderCc ?? DBNull.Value;
        p[4].Value = (object?)r.HeaderBcc ?? DBNull.Value;
        p[5].Value = (object?)r.HeaderReplyTo ?? DBNull.Value;
        p[6].Value = (object?)r.MessageId ?? DBNull.Value;
        p[7].Value = r.Attachments;
        p[8].Value = r.InlineParts;
        p[9].Value = (object?)r.Snippet ?? DBNull.Value;
        p[10].Value = r.Id;
        update.ExecuteNonQuery();
    }
}
