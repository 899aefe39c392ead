using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using MimeKit;
using Smtpd.Catcher.Mime;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher;

/// <summary>A received message, analysed: its record, and its content when it is small enough to carry in memory.</summary>
/// <param name="Record">The metadata the store keeps.</param>
/// <param name="Content">The exact content for messages up to <see cref="MessageAnalyzer.InlineLimit"/>; <see langword="null"/> for larger ones, which are streamed.</param>
internal sealed record AnalyzedMessage(MessageRecord Record, byte[]? Content);

/// <summary>Turns a received message into the record the store keeps: hash, envelope, session and listing headers.</summary>
internal static class MessageAnalyzer
{
    /// <summary>
    /// Messages up to this size are read into one array here, in the session, so hashing, parsing and the store's
    /// single writer all work from memory: the core holds this much in memory anyway (its default
    /// <c>MessageMemoryThreshold</c>). Larger messages are read as streams, a buffer at a time.
    /// </summary>
    public const int InlineLimit = 64 * 1024;

    /// <summary>The snippet's length in characters: what Mailpit shows under a subject, so its clients lay out alike.</summary>
    public const int SnippetLength = 250;

    /// <summary>
    /// The most body characters the full-text index gets per message (schema v3): words past 256 Ki characters are
    /// rarely what a test searches for, and the cap bounds the work and memory of one message's ingest.
    /// </summary>
    public const int SearchBodyLimit = 256 * 1024;

    /// <summary>The most HTML characters read to make the text of an HTML-only message: the markup around the cap of text.</summary>
    /// <summary>
    /// The most header fields of one message kept for <c>header:</c>: real messages have a few dozen (a long relay
    /// path adds one <c>Received</c> per hop, and Postfix bounces mail past 50 hops), so this never cuts an honest
    /// message and bounds what a hostile one costs.
    /// </summary>
    public const int SearchHeaderLimit = 1000;

    private const int HtmlReadLimit = 4 * SearchBodyLimit;

    private const int BufferSize = 64 * 1024;

    /// <summary>
    /// MimeKit parsers are reused: a new parser allocates its read buffers, which at thousands of messages per
    /// second costs more than the parse of a small message.
    /// </summary>
    private static readonly ConcurrentBag<MimeParser> Parsers = [];

    /// <summary>Hashes the content and reads the listing headers with MimeKit.</summary>
    /// <param name="message">The message, during its delivery callback.</param>
    /// <param name="cancellationToken">Cancelled when the client goes away or the server stops.</param>
    /// <returns>The record, and the content when it is small.</returns>
    public static async Task<AnalyzedMessage> AnalyzeAsync(SmtpMessage message, CancellationToken cancellationToken)
    {
        byte[]? content = null;
        string sha256;
        if (message.Size <= InlineLimit)
        {
            content = new byte[message.Size];
            await using (var stream = message.OpenRead())
            {
                await stream.ReadExactlyAsync(content, cancellationToken);
            }

            sha256 = Convert.ToHexStringLower(SHA256.HashData(content));
        }
        else
        {
            sha256 = await HashAsync(message, cancellationToken);
        }

        var record = new MessageRecord
        {
            ReceivedAt = message.ReceivedAt,
            MailFrom = message.Envelope.SenderAddress,
            Recipients = message.Envelope.Recipients.Select(r => r.Address).ToArray(),
            Client = message.Session.RemoteEndPoint.ToString(),
            Helo = message.Session.HeloName,
            Tls = message.Session.IsSecure,
            TlsProtocol = message.Session.IsSecure ? message.Session.TlsProtocol.ToString() : null,
            TlsCipher = message.Session.IsSecure ? message.Session.TlsCipherSuite?.ToString() : null,
            User = message.Session.AuthenticatedIdentity,
            Size = message.Size,
            Sha256 = sha256,
            DsnReturn = message.Envelope.DsnReturn switch
            {
                SmtpDsnReturn.Full => "FULL",
                SmtpDsnReturn.Headers => "HDRS",
                _ => null,
            },
            DsnEnvelopeId = message.Envelope.DsnEnvelopeId,
            RecipientDsn = RecipientDsnRecord.From(message.Envelope.Recipients),
        };

        if (content is not null)
        {
            using var memory = new MemoryStream(content, writable: false);
            return new AnalyzedMessage(AddHeaders(record, memory, cancellationToken), content);
        }

        // A spilled message is a local file: a synchronous parse of it is as quick as an async one, and lets the
        // parser be reused.
        await using var spilled = message.OpenRead();
        return new AnalyzedMessage(AddHeaders(record, spilled, cancellationToken), null);
    }

    /// <summary>
    /// Analyses a message that did not come over SMTP (<c>POST /api/v1/send</c>): the same hash, headers and parts as
    /// SMTP ingest, from content already in memory.
    /// </summary>
    /// <param name="content">The exact content.</param>
    /// <param name="envelope">The record with the envelope and session members set; size, hash and headers are filled in.</param>
    /// <returns>The record and the content.</returns>
    public static AnalyzedMessage AnalyzeLocal(byte[] content, MessageRecord envelope)
    {
        var record = envelope with { Size = content.Length, Sha256 = Convert.ToHexStringLower(SHA256.HashData(content)) };
        using var memory = new MemoryStream(content, writable: false);
        // As for SMTP ingest, only a small message is handed over whole: the store writes inline content as one
        // chunk, and a larger one must be streamed into chunks of StoreSchema.ChunkSize for its readers to find them.
        return new AnalyzedMessage(AddHeaders(record, memory, CancellationToken.None), content.Length <= InlineLimit ? content : null);
    }

    /// <summary>
    /// Analyses a stored message again from its content (the upgrade of an older store): the listing headers, part
    /// counts, snippet and search texts, exactly as at ingest. The envelope, size and hash stay as stored.
    /// </summary>
    /// <param name="stored">The stored record.</param>
    /// <param name="content">Its exact content.</param>
    /// <returns>The record with the analysed members filled in.</returns>
    public static MessageRecord Reanalyze(MessageRecord stored, Stream content) => AddHeaders(stored, content, CancellationToken.None);

    private static async Task<string> HashAsync(SmtpMessage message, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            await using var content = message.OpenRead();
            int read;
            while ((read = await content.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static MessageRecord AddHeaders(MessageRecord record, Stream content, CancellationToken cancellationToken)
    {
        if (!Parsers.TryTake(out var parser))
        {
            parser = new MimeParser(Stream.Null, persistent: true);
        }

        try
        {
            // persistent: the parts stay in the content instead of being copied into memory.
            parser.SetStream(content, MimeFormat.Entity, persistent: true);
            using var mime = parser.ParseMessage(cancellationToken);
            var parts = MessageParts.Classify(mime);
            var body = BodyText(parts);
            return record with
            {
                Subject = mime.Headers.Contains(HeaderId.Subject) ? mime.Subject : null,
                HeaderFrom = AddressText(mime.From),
                HeaderTo = AddressText(mime.To),
                HeaderCc = AddressText(mime.Cc),
                HeaderBcc = AddressText(mime.Bcc),
                HeaderReplyTo = AddressText(mime.ReplyTo),
                HeaderDate = mime.Headers.Contains(HeaderId.Date) && mime.Date != DateTimeOffset.MinValue
                    ? mime.Date.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture)
                    : null,
                MessageId = mime.MessageId,
                HasAttachments = mime.Attachments.Any(),
                Attachments = parts.Count(p => p.Role == PartRole.Attachment),
                InlineParts = parts.Count(p => p.Role == PartRole.Inline),
                Snippet = MessageParts.Collapse(body, SnippetLength),
                SearchBody = body,
                SearchAddresses = SearchAddresses(record, mime),
                SearchHeaders = SearchHeaders(mime),
            };
        }
        catch (FormatException)
        {
            // A catcher keeps whatever was sent, MIME or not; such a message simply has nothing to list.
            return record with { SearchAddresses = SearchAddresses(record, null) };
        }
        finally
        {
            // Drop the reference to this message's content before the parser waits for the next one.
            parser.SetStream(Stream.Null, persistent: true);
            Parsers.Add(parser);
        }
    }

    private static string? AddressText(InternetAddressList list) => list.Count > 0 ? list.ToString() : null;

    /// <summary>The text body, or the HTML body made text, capped at <see cref="SearchBodyLimit"/> characters.</summary>
    private static string BodyText(List<ClassifiedPart> parts)
    {
        if (parts.FirstOrDefault(p => p.Role == PartRole.TextBody)?.Entity is TextPart text)
        {
            return MessageParts.ReadText(text, SearchBodyLimit);
        }

        if (parts.FirstOrDefault(p => p.Role == PartRole.HtmlBody)?.Entity is TextPart html)
        {
            var converted = MessageParts.HtmlToText(MessageParts.ReadText(html, HtmlReadLimit));
            return converted.Length > SearchBodyLimit ? converted[..SearchBodyLimit] : converted;
        }

        return string.Empty;
    }

    /// <summary>
    /// The header fields <c>header:</c> searches, in order: at most <see cref="SearchHeaderLimit"/> fields and
    /// <see cref="SearchBodyLimit"/> characters of values in all, so a message of nothing but headers indexes no more
    /// than its body would. Names are lower-cased (RFC 5322 1.2.2: field names are case-insensitive); MimeKit's
    /// <c>Header.Value</c> is the unfolded (RFC 5322 2.2.3), RFC 2047-decoded value.
    /// </summary>
    private static KeyValuePair<string, string>[] SearchHeaders(MimeMessage mime)
    {
        var headers = new List<KeyValuePair<string, string>>(Math.Min(mime.Headers.Count, SearchHeaderLimit));
        var budget = SearchBodyLimit;
        foreach (var header in mime.Headers)
        {
            if (headers.Count == SearchHeaderLimit || budget <= 0)
            {
                break;
            }

            var value = header.Value ?? string.Empty;
            if (value.Length > budget)
            {
                value = value[..budget];
            }

            budget -= value.Length;
            headers.Add(new(header.Field.ToLowerInvariant(), value));
        }

        return [.. headers];
    }

    /// <summary>The index's <c>addresses</c> column: the envelope and every address header, names and addresses.</summary>
    private static string SearchAddresses(MessageRecord record, MimeMessage? mime)
    {
        var text = new System.Text.StringBuilder(record.MailFrom);
        foreach (var recipient in record.Recipients)
        {
            text.Append(' ').Append(recipient);
        }

        if (mime is not null)
        {
            foreach (var list in new[] { mime.From, mime.To, mime.Cc, mime.Bcc, mime.ReplyTo })
            {
                foreach (var mailbox in list.Mailboxes)
                {
                    text.Append(' ').Append(mailbox.Name).Append(' ').Append(mailbox.Address);
                }
            }
        }

        return text.ToString();
    }
}
