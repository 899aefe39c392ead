using System.Globalization;
using System.Security.Cryptography;
using MimeKit;
using Smtpd.Catcher.Mime;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Http;

/// <summary>Turns store records and parsed messages into the API's JSON shapes.</summary>
internal static class ApiMapper
{
    private static readonly ParserOptions AddressParserOptions = new() { AllowAddressesWithoutDomain = true, AllowUnquotedCommasInAddresses = false };

    /// <summary>The parsed address headers of recent summaries (see <see cref="AddressListCache"/>).</summary>
    internal static readonly AddressListCache AddressLists = new(ParseAddresses);

    /// <summary>The API's id of a stored message.</summary>
    /// <param name="id">The store's id.</param>
    /// <returns>The decimal text.</returns>
    public static string Id(long id) => id.ToString(CultureInfo.InvariantCulture);

    /// <summary>A list entry, from the listing columns alone (no content is read).</summary>
    /// <param name="record">The record, with its tags.</param>
    /// <returns>The summary.</returns>
    public static ApiMessageSummary Summary(MessageRecord record)
    {
        var to = Addresses(record.HeaderTo);
        var cc = Addresses(record.HeaderCc);
        var from = Addresses(record.HeaderFrom);
        return new ApiMessageSummary
        {
            ID = Id(record.Id),
            MessageID = record.MessageId ?? string.Empty,
            Read = record.IsRead,
            From = from.Count > 0 ? from[0] : null,
            To = to,
            Cc = cc,
            Bcc = Bcc(record, to, cc),
            ReplyTo = Addresses(record.HeaderReplyTo),
            Subject = record.Subject ?? string.Empty,
            Created = record.ReceivedAt,
            Username = record.User ?? string.Empty,
            Tags = record.Tags,
            Size = record.Size,
            Attachments = record.Attachments,
            Snippet = record.Snippet ?? string.Empty,
            Smtpd = Smtpd(record),
        };
    }

    /// <summary>The full message: the record's members and what only the content has (bodies, parts, headers).</summary>
    /// <param name="record">The record, with its tags.</param>
    /// <param name="mime">The parsed content.</param>
    /// <returns>The message.</returns>
    public static ApiMessage Message(MessageRecord record, MimeMessage mime)
    {
        var summary = Summary(record);
        var parts = MessageParts.Classify(mime);
        var text = parts.FirstOrDefault(p => p.Role == PartRole.TextBody)?.Entity as TextPart;
        var html = parts.FirstOrDefault(p => p.Role == PartRole.HtmlBody)?.Entity as TextPart;
        return new ApiMessage
        {
            ID = summary.ID,
            MessageID = summary.MessageID,
            Read = summary.Read,
            From = summary.From,
            To = summary.To,
            Cc = summary.Cc,
            Bcc = summary.Bcc,
            ReplyTo = summary.ReplyTo,
            ReturnPath = ReturnPath(record, mime),
            Subject = summary.Subject,
            ListUnsubscribe = ListUnsubscribe(mime),
            Date = mime.Headers.Contains(HeaderId.Date) && mime.Date != DateTimeOffset.MinValue ? mime.Date : record.ReceivedAt,
            Created = record.ReceivedAt,
            Tags = summary.Tags,
            Username = summary.Username,
            Text = text?.Text ?? string.Empty,
            HTML = html?.Text ?? string.Empty,
            Size = record.Size,
            Inline = [.. parts.Where(p => p.Role == PartRole.Inline).Select(Attachment)],
            Attachments = [.. parts.Where(p => p.Role == PartRole.Attachment).Select(Attachment)],
            Smtpd = summary.Smtpd,
        };
    }

    /// <summary>Parses an address header as the store keeps it (<c>Name &lt;a@b&gt;, c@d</c>) into mailboxes.</summary>
    /// <param name="text">The stored text, or <see langword="null"/>.</param>
    /// <returns>The mailboxes; empty, never null.</returns>
    public static IReadOnlyList<ApiAddress> Addresses(string? text) => string.IsNullOrEmpty(text) ? [] : AddressLists.Get(text);

    private static IReadOnlyList<ApiAddress> ParseAddresses(string text)
    {
        if (!InternetAddressList.TryParse(AddressParserOptions, text, out var list))
        {
            return [];
        }

        return [.. list.Mailboxes.Select(m => new ApiAddress { Name = m.Name ?? string.Empty, Address = m.Address ?? string.Empty })];
    }

    /// <summary>
    /// Bcc: the Bcc header when the message carried one; otherwise the envelope recipients that no To or Cc header
    /// names, which is who got a blind copy (what Mailpit users look for in a Bcc test).
    /// </summary>
    private static IReadOnlyList<ApiAddress> Bcc(MessageRecord record, IReadOnlyList<ApiAddress> to, IReadOnlyList<ApiAddress> cc)
    {
        if (record.HeaderBcc is not null)
        {
            return Addresses(record.HeaderBcc);
        }

        var visible = new HashSet<string>(to.Concat(cc).Select(a => a.Address), StringComparer.OrdinalIgnoreCase);
        return [.. record.Recipients.Where(r => !visible.Contains(r)).Distinct(StringComparer.OrdinalIgnoreCase).Select(r => new ApiAddress { Address = r })];
    }

    private static ApiSmtpd Smtpd(MessageRecord record) => new()
    {
        MailFrom = record.MailFrom,
        Recipients = record.Recipients,
        Client = record.Client,
        Helo = record.Helo,
        Tls = record.Tls ? new ApiTls { Protocol = record.TlsProtocol, Cipher = record.TlsCipher } : null,
        User = record.User,
        Dsn = record.HasDsn
            ? new ApiDsn
            {
                Ret = record.DsnReturn,
                EnvId = record.DsnEnvelopeId,
                Recipients = [.. record.RecipientDsn.Select(r => new ApiDsnRecipient { To = r.To, Notify = r.Notify, Orcpt = r.OriginalRecipient })],
            }
            : null,
        Sha256 = record.Sha256,
    };

    private static string ReturnPath(MessageRecord record, MimeMessage mime)
    {
        var header = mime.Headers[HeaderId.ReturnPath];
        if (!string.IsNullOrWhiteSpace(header))
        {
            return header.Trim().TrimStart('<').TrimEnd('>');
        }

        return record.MailFrom;
    }

    private static ApiListUnsubscribe ListUnsubscribe(MimeMessage mime)
    {
        var header = mime.Headers[HeaderId.ListUnsubscribe];
        if (string.IsNullOrEmpty(header))
        {
            return new ApiListUnsubscribe();
        }

        // RFC 2369 3.2: a comma-separated list of URLs in angle brackets.
        var links = new List<string>();
        var errors = new List<string>();
        foreach (var item in header.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (item.Length > 2 && item[0] == '<' && item[^1] == '>')
            {
                links.Add(item[1..^1].Trim());
            }
            else
            {
                errors.Add($"\"{item}\" is not in angle brackets");
            }
        }

        return new ApiListUnsubscribe
        {
            Header = header.Trim(),
            Links = links,
            Errors = string.Join("; ", errors),
            HeaderPost = mime.Headers["List-Unsubscribe-Post"]?.Trim() ?? string.Empty,
        };
    }

    private static ApiAttachment Attachment(ClassifiedPart part)
    {
        var entity = part.Entity;
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0;
        using (var hashing = new HashingStream(bytes =>
        {
            md5.AppendData(bytes);
            sha1.AppendData(bytes);
            sha256.AppendData(bytes);
            size += bytes.Length;
        }))
        {
            WriteDecoded(entity, hashing);
        }

        return new ApiAttachment
        {
            PartID = part.PartId,
            FileName = FileName(entity),
            ContentType = entity.ContentType.MimeType,
            ContentID = entity.ContentId ?? string.Empty,
            Size = size,
            Checksums = new ApiChecksums
            {
                MD5 = Convert.ToHexStringLower(md5.GetHashAndReset()),
                SHA1 = Convert.ToHexStringLower(sha1.GetHashAndReset()),
                SHA256 = Convert.ToHexStringLower(sha256.GetHashAndReset()),
            },
        };
    }

    /// <summary>The part's file name, or a name made from its content type (an attached message has none).</summary>
    /// <param name="entity">The part.</param>
    /// <returns>The name.</returns>
    public static string FileName(MimeEntity entity) => entity switch
    {
        MimePart { FileName: { Length: > 0 } name } => name,
        MessagePart message => (message.Message?.Subject is { Length: > 0 } subject ? subject : "message") + ".eml",
        _ => string.Empty,
    };

    /// <summary>Writes a leaf part's decoded content (an attached message as its MIME text).</summary>
    /// <param name="entity">The part.</param>
    /// <param name="output">Where to.</param>
    public static void WriteDecoded(MimeEntity entity, Stream output)
    {
        switch (entity)
        {
            case MimePart { Content: { } content }:
                content.DecodeTo(output);
                break;
            case MessagePart { Message: { } message }:
                message.WriteTo(output);
                break;
            default:
                break;
        }
    }

    /// <summary>A write-only stream that hands what is written to a callback (hashing and counting without a copy).</summary>
    private sealed class HashingStream(Action<ReadOnlySpan<byte>> onWrite) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => onWrite(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer) => onWrite(buffer);
    }
}
