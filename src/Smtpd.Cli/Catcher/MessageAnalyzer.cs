using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using MimeKit;
using Smtpd.Cli.Storage;

namespace Smtpd.Cli.Catcher;

/// <summary>Turns a received message into the record the store keeps: hash, envelope, session and listing headers.</summary>
internal static class MessageAnalyzer
{
    private const int BufferSize = 64 * 1024;

    /// <summary>Reads the content once for its SHA-256 and once with MimeKit for the headers.</summary>
    /// <param name="message">The message, during its delivery callback.</param>
    /// <param name="cancellationToken">Cancelled when the client goes away or the server stops.</param>
    /// <returns>The record.</returns>
    public static async Task<MessageRecord> AnalyzeAsync(SmtpMessage message, CancellationToken cancellationToken)
    {
        var sha256 = await HashAsync(message, cancellationToken);
        var record = new MessageRecord
        {
            ReceivedAt = message.ReceivedAt,
            MailFrom = message.Envelope.SenderAddress,
            Recipients = message.Envelope.Recipients.Select(r => r.Address).ToArray(),
            Client = message.Session.RemoteEndPoint.ToString(),
            Helo = message.Session.HeloName,
            Tls = message.Session.IsSecure,
            TlsProtocol = message.Session.IsSecure ? message.Session.TlsProtocol.ToString() : null,
            User = message.Session.AuthenticatedIdentity,
            Size = message.Size,
            Sha256 = sha256,
        };

        return await AddHeadersAsync(record, message, cancellationToken);
    }

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

    private static async Task<MessageRecord> AddHeadersAsync(MessageRecord record, SmtpMessage message, CancellationToken cancellationToken)
    {
        await using var content = message.OpenRead();
        try
        {
            // persistent: the parts stay in the spooled content instead of being copied into memory.
            using var mime = await MimeMessage.LoadAsync(content, persistent: true, cancellationToken);
            return record with
            {
                Subject = mime.Headers.Contains(HeaderId.Subject) ? mime.Subject : null,
                HeaderFrom = mime.From.Count > 0 ? mime.From.ToString() : null,
                HeaderTo = mime.To.Count > 0 ? mime.To.ToString() : null,
                HeaderDate = mime.Headers.Contains(HeaderId.Date) && mime.Date != DateTimeOffset.MinValue
                    ? mime.Date.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture)
                    : null,
                MessageId = mime.MessageId,
                HasAttachments = mime.Attachments.Any(),
            };
        }
        catch (FormatException)
        {
            // A catcher keeps whatever was sent, MIME or not; such a message simply has nothing to list.
            return record;
        }
    }
}
