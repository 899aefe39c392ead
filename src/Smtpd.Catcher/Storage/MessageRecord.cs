namespace Smtpd.Catcher.Storage;

/// <summary>Everything the store keeps about one message besides its content: the envelope, the session and the listing headers.</summary>
internal sealed record MessageRecord
{
    /// <summary>The store's id; 0 until the message is stored.</summary>
    public long Id { get; init; }

    /// <summary>When the end of the content was received.</summary>
    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>The MAIL FROM address; empty for the null path <c>&lt;&gt;</c>.</summary>
    public required string MailFrom { get; init; }

    /// <summary>Every RCPT TO address, in order, Bcc recipients included.</summary>
    public required IReadOnlyList<string> Recipients { get; init; }

    /// <summary>The client's address and port.</summary>
    public required string Client { get; init; }

    /// <summary>The HELO or EHLO name.</summary>
    public string? Helo { get; init; }

    /// <summary>Whether the message came over TLS.</summary>
    public bool Tls { get; init; }

    /// <summary>The TLS protocol, such as <c>Tls13</c>, when <see cref="Tls"/>.</summary>
    public string? TlsProtocol { get; init; }

    /// <summary>The authenticated identity, if the client used AUTH.</summary>
    public string? User { get; init; }

    /// <summary>The content size in octets.</summary>
    public required long Size { get; init; }

    /// <summary>The SHA-256 of the content, in lower-case hex.</summary>
    public required string Sha256 { get; init; }

    /// <summary>The decoded Subject header, if any.</summary>
    public string? Subject { get; init; }

    /// <summary>The From header, decoded, if any.</summary>
    public string? HeaderFrom { get; init; }

    /// <summary>The To header, decoded, if any.</summary>
    public string? HeaderTo { get; init; }

    /// <summary>The Date header in ISO 8601, if present and valid.</summary>
    public string? HeaderDate { get; init; }

    /// <summary>The Message-ID header, without angle brackets, if any.</summary>
    public string? MessageId { get; init; }

    /// <summary>Whether some MIME part is an attachment.</summary>
    public bool HasAttachments { get; init; }

    /// <summary>The TLS cipher suite, such as <c>TLS_AES_256_GCM_SHA384</c>, when <see cref="Tls"/>.</summary>
    public string? TlsCipher { get; init; }

    /// <summary>The Cc header, decoded, if any (the format of <see cref="HeaderTo"/>).</summary>
    public string? HeaderCc { get; init; }

    /// <summary>The Bcc header, decoded, if the message carried one.</summary>
    public string? HeaderBcc { get; init; }

    /// <summary>The Reply-To header, decoded, if any.</summary>
    public string? HeaderReplyTo { get; init; }

    /// <summary>How many parts are attachments.</summary>
    public int Attachments { get; init; }

    /// <summary>How many parts are inline but not a body, such as images a <c>cid:</c> URL names.</summary>
    public int InlineParts { get; init; }

    /// <summary>The start of the text (or HTML made text), whitespace collapsed, at most <see cref="MessageAnalyzer.SnippetLength"/> characters.</summary>
    public string? Snippet { get; init; }

    /// <summary>
    /// The port of the listener the message came in on (column <c>listener_port</c>, schema v5), for <c>port:</c>
    /// mailbox rules; <see langword="null"/> for a message not received over SMTP (<c>POST /api/v1/send</c>). Written,
    /// not read back by the store's queries.
    /// </summary>
    public int? ListenerPort { get; init; }

    /// <summary>
    /// The named mailboxes the message was routed to when it was stored (table <c>message_mailboxes</c>, schema v5),
    /// in ordinal order; empty when no rule matched. Only on the way in (and on the <c>new</c> event).
    /// </summary>
    public IReadOnlyList<string> Mailboxes { get; init; } = [];

    /// <summary>Whether the message was marked read through the HTTP API.</summary>
    public bool IsRead { get; init; }

    /// <summary>The message's tags, in the order of their names; loaded by the API's reads only.</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>
    /// What the full-text index gets for the body, at most <see cref="MessageAnalyzer.SearchBodyLimit"/> characters;
    /// only on the way in (the index is contentless, so it is never read back).
    /// </summary>
    public string? SearchBody { get; init; }

    /// <summary>What the full-text index gets for the addresses; only on the way in.</summary>
    public string? SearchAddresses { get; init; }

    /// <summary>
    /// The header fields of the top-level message, in order, for <c>header:</c> searches (table
    /// <c>message_headers</c>): the name in lower case, the value unfolded and decoded. Only on the way in.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> SearchHeaders { get; init; } = [];

    /// <summary>The RFC 3461 <c>RET</c> parameter as sent on the wire, <c>FULL</c> or <c>HDRS</c>; <see langword="null"/> without one.</summary>
    public string? DsnReturn { get; init; }

    /// <summary>The RFC 3461 <c>ENVID</c> parameter, decoded from xtext; <see langword="null"/> without one.</summary>
    public string? DsnEnvelopeId { get; init; }

    /// <summary>The RFC 3461 <c>NOTIFY</c> and <c>ORCPT</c> parameters of the recipients that had any, in RCPT order.</summary>
    public IReadOnlyList<RecipientDsnRecord> RecipientDsn { get; init; } = [];

    /// <summary>Whether the message carried any DSN parameter; only then do <c>show</c> and the JSON mention DSN.</summary>
    public bool HasDsn => DsnReturn is not null || DsnEnvelopeId is not null || RecipientDsn.Count > 0;

    /// <summary>The time as stored and printed: ISO 8601 in UTC with seven fractional digits, so text order is time order.</summary>
    public string ReceivedAtText => FormatTime(ReceivedAt);

    /// <summary>Formats a time the way the store keeps it.</summary>
    /// <param name="time">The time.</param>
    /// <returns>ISO 8601 in UTC.</returns>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The DSN parameters of one RCPT command.</summary>
/// <param name="To">The recipient address.</param>
/// <param name="Notify">The <c>NOTIFY</c> value as on the wire (<c>NEVER</c>, or a list such as <c>SUCCESS,FAILURE</c>); <see langword="null"/> without one.</param>
/// <param name="OriginalRecipient">
/// The <c>ORCPT</c> as an RFC 3464 2.3.1 <c>Original-Recipient</c> field writes it, <c>address-type;address</c> with the
/// address decoded (<c>rfc822;bob@example.com</c>); <see langword="null"/> without one.
/// </param>
internal sealed record RecipientDsnRecord(string To, string? Notify, string? OriginalRecipient)
{
    /// <summary>The DSN parameters of the recipients that had any, in RCPT order.</summary>
    /// <param name="recipients">The envelope's recipients.</param>
    /// <returns>One record per recipient with DSN parameters; empty when none had any.</returns>
    public static RecipientDsnRecord[] From(IReadOnlyList<SmtpMailbox> recipients)
    {
        List<RecipientDsnRecord>? records = null;
        foreach (var recipient in recipients)
        {
            if (recipient.Dsn is { } dsn)
            {
                (records ??= []).Add(new RecipientDsnRecord(
                    recipient.Address,
                    NotifyText(dsn.Notify),
                    dsn.OriginalRecipientType is null ? null : dsn.OriginalRecipientType + ";" + dsn.OriginalRecipient));
            }
        }

        return records?.ToArray() ?? [];
    }

    /// <summary>The wire form of a <c>NOTIFY</c> value, or <see langword="null"/> for none.</summary>
    /// <param name="notify">The value.</param>
    /// <returns>The text.</returns>
    public static string? NotifyText(SmtpDsnNotify notify)
    {
        if (notify == SmtpDsnNotify.None)
        {
            return null;
        }

        if (notify.HasFlag(SmtpDsnNotify.Never))
        {
            return "NEVER";
        }

        List<string> parts = [];
        if (notify.HasFlag(SmtpDsnNotify.Success))
        {
            parts.Add("SUCCESS");
        }

        if (notify.HasFlag(SmtpDsnNotify.Failure))
        {
            parts.Add("FAILURE");
        }

        if (notify.HasFlag(SmtpDsnNotify.Delay))
        {
            parts.Add("DELAY");
        }

        return string.Join(',', parts);
    }
}
