namespace Smtpd.Catcher.Storage;

/// <summary>
/// Decides whether one message matches a search without a store (a catcher run with <c>--no-store</c>, whose
/// <c>/api/v1/wait</c> still matches new messages): the message and its index rows go into an empty in-memory
/// store, and the search's own SQL decides, so the answer is the one a store would give.
/// </summary>
internal static class ScratchStore
{
    /// <summary>Whether <paramref name="record"/> matches <paramref name="query"/>.</summary>
    /// <param name="query">The compiled search.</param>
    /// <param name="record">The analysed message.</param>
    /// <returns>Whether it matches.</returns>
    public static bool Matches(CompiledQuery query, MessageRecord record)
    {
        using var connection = StoreSchema.OpenInMemory();
        using (var insert = connection.CreateCommand())
        {
            insert.CommandText = """
                INSERT INTO messages (id, received_at, mail_from, rcpt_to, client, tls, size, sha256, subject, header_from, header_to,
                                      message_id, has_attachments, header_cc, header_bcc, header_reply_to, attachments, inline_parts)
                VALUES (1, $received_at, $mail_from, $rcpt_to, $client, $tls, $size, $sha256, $subject, $header_from, $header_to,
                        $message_id, $has_attachments, $header_cc, $header_bcc, $header_reply_to, $attachments, $inline_parts)
                """;
            var p = insert.Parameters;
            p.AddWithValue("$received_at", record.ReceivedAtText);
            p.AddWithValue("$mail_from", record.MailFrom);
            p.AddWithValue("$rcpt_to", CatcherJson.StringArray(record.Recipients));
            p.AddWithValue("$client", record.Client);
            p.AddWithValue("$tls", record.Tls ? 1 : 0);
            p.AddWithValue("$size", record.Size);
            p.AddWithValue("$sha256", record.Sha256);
            p.AddWithValue("$subject", (object?)record.Subject ?? DBNull.Value);
            p.AddWithValue("$header_from", (object?)record.HeaderFrom ?? DBNull.Value);
            p.AddWithValue("$header_to", (object?)record.HeaderTo ?? DBNull.Value);
            p.AddWithValue("$message_id", (object?)record.MessageId ?? DBNull.Value);
            p.AddWithValue("$has_attachments", record.HasAttachments ? 1 : 0);
            p.AddWithValue("$header_cc", (object?)record.HeaderCc ?? DBNull.Value);
            p.AddWithValue("$header_bcc", (object?)record.HeaderBcc ?? DBNull.Value);
            p.AddWithValue("$header_reply_to", (object?)record.HeaderReplyTo ?? DBNull.Value);
            p.AddWithValue("$attachments", record.Attachments);
            p.AddWithValue("$inline_parts", record.InlineParts);
            insert.ExecuteNonQuery();
        }

        using (var index = new SearchIndexWriter(connection))
        {
            index.Insert(1, record);
        }

        using var store = MessageStore.Wrap(connection);
        return store.Matches(query, 1);
    }
}
