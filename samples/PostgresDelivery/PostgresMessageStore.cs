using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using MimeKit;
using MimeKit.IO;
using MimeKit.Utils;
using Npgsql;
using NpgsqlTypes;
using Smtpd.Hosting;

namespace Smtpd.Samples.PostgresDelivery;

/// <summary>
/// Commits each message to the <c>smtpd_messages</c> table and only then accepts it, so a <c>250</c> means the
/// message is in the database every instance shares. A database that fails the write gets the client
/// <c>451 4.3.0</c>, and the client tries again later (RFC 5321 4.2.5: a failed delivery is never answered 2xx).
/// </summary>
/// <remarks>
/// Delivery is at least once. A 250 lost on its way back (the connection drops, the instance dies after the commit)
/// makes the client send the same message again, so the row's key is a hash of the envelope and the content:
/// the retry finds the row and only counts a duplicate.
/// </remarks>
public sealed partial class PostgresMessageStore(NpgsqlDataSource dataSource, ILogger<PostgresMessageStore> logger) : ISmtpMessageHandler
{
    /// <summary>How far into the content to look for the Message-ID header: the header block, not the body.</summary>
    private const int HeaderScanLimit = 64 * 1024;

    /// <summary>RFC 5322 2.1.1: a line, so any header value, is at most 998 characters.</summary>
    private const int MaxMessageIdLength = 998;

    private const string Insert = """
        INSERT INTO smtpd_messages AS m
            (delivery_key, received_at, sender, recipients, client_address, client_port, helo, session_id, instance,
             message_id, size, sha256, raw)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        ON CONFLICT (delivery_key) DO UPDATE SET duplicates = m.duplicates + 1, last_duplicate_at = now()
        RETURNING id, duplicates
        """;

    private static readonly SmtpReply StoreUnavailable = new(451, "4.3.0", "Mail store unavailable, try again later");

    /// <inheritdoc/>
    public async ValueTask<SmtpVerdict> HandleAsync(SmtpMessage message, CancellationToken cancellationToken)
    {
        // The content is seekable (memory, or the session's spool file beyond MessageMemoryThreshold): hash it, read
        // its Message-ID, then let Npgsql stream it into the bytea parameter from the start.
        await using var content = message.OpenRead();
        var sha256 = await SHA256.HashDataAsync(content, cancellationToken);
        content.Position = 0;
        var messageId = await ReadMessageIdAsync(content, message.Size, cancellationToken);
        content.Position = 0;

        var envelope = message.Envelope;
        var recipients = envelope.Recipients.Select(r => r.Address).ToArray();
        var client = message.Session.RemoteEndPoint;
        var clientAddress = client.Address.IsIPv4MappedToIPv6 ? client.Address.MapToIPv4() : client.Address;
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            // One statement today, but a transaction all the same: whatever else the application writes with the
            // message (an outbox row for the consumer, a NOTIFY) commits with it or not at all.
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await using var command = new NpgsqlCommand(Insert, connection, transaction)
            {
                Parameters =
                {
                    new() { Value = DeliveryKey(envelope.SenderAddress, recipients, sha256) },
                    new() { Value = message.ReceivedAt },
                    new() { Value = envelope.SenderAddress },
                    new() { Value = recipients },
                    new() { Value = clientAddress },
                    new() { Value = client.Port },
                    new() { Value = (object?)message.Session.HeloName ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text },
                    new() { Value = message.Session.Id },
                    new() { Value = Environment.MachineName },
                    new() { Value = (object?)messageId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text },
                    new() { Value = message.Size },
                    new() { Value = sha256 },
                    // A seekable Stream is sent in chunks from its position to its end: the message is never held
                    // whole in memory, however large (see docs/scaling.md for the measurement).
                    new() { Value = content, NpgsqlDbType = NpgsqlDbType.Bytea },
                },
            };

            long id;
            int duplicates;
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                await reader.ReadAsync(cancellationToken);
                id = reader.GetInt64(0);
                duplicates = reader.GetInt32(1);
            }

            await transaction.CommitAsync(cancellationToken);
            if (duplicates == 0)
            {
                LogStored(logger, message.Session.Id, id, message.Size, recipients.Length);
            }
            else
            {
                LogDuplicate(logger, message.Session.Id, id, duplicates);
            }

            return SmtpVerdict.Accept;
        }
        catch (NpgsqlException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Unreachable, restarting, out of connections, a failover: the message is not stored, and a temporary
            // reply makes the client queue it and retry. A commit whose outcome is unknown (the connection broke
            // during COMMIT) lands here too; if it did commit, the retry is counted as a duplicate.
            LogStoreFailed(logger, ex, message.Session.Id, ex.IsTransient);
            return SmtpVerdict.Reject(StoreUnavailable);
        }
    }

    /// <summary>
    /// The deduplication key: SHA-256 over the sender, the recipients in ordinal order and the content's hash, with
    /// line feeds between them (no address contains one). The same bytes to another envelope are another delivery.
    /// </summary>
    public static byte[] DeliveryKey(string sender, IReadOnlyList<string> recipients, ReadOnlySpan<byte> contentSha256)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(sender));
        foreach (var recipient in recipients.Order(StringComparer.Ordinal))
        {
            hash.AppendData("\n"u8);
            hash.AppendData(Encoding.UTF8.GetBytes(recipient));
        }

        hash.AppendData("\n"u8);
        hash.AppendData(contentSha256);
        return hash.GetHashAndReset();
    }

    /// <summary>The Message-ID (without angle brackets) from the header block, or <see langword="null"/>.</summary>
    private static async Task<string?> ReadMessageIdAsync(Stream content, long size, CancellationToken cancellationToken)
    {
        // Only the first 64 KiB: a hostile message whose "header block" is the whole 25 MiB is never parsed whole.
        await using var headerBlock = new BoundStream(content, 0, Math.Min(size, HeaderScanLimit), leaveOpen: true);
        try
        {
            var headers = await HeaderList.LoadAsync(headerBlock, cancellationToken);
            var value = headers[HeaderId.MessageId];
            var id = value is null ? null : MimeUtils.ParseMessageId(value);
            return id is { Length: > 0 and <= MaxMessageIdLength } ? id : null;
        }
        catch (FormatException)
        {
            // Not a header block at all: a valid SMTP transaction, just not an RFC 5322 message.
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{SessionId}: stored message {Id} ({Size} octets, {Recipients} recipients)")]
    private static partial void LogStored(ILogger logger, string sessionId, long id, long size, int recipients);

    [LoggerMessage(Level = LogLevel.Information, Message = "{SessionId}: message {Id} was already stored; a retry (duplicate {Duplicates})")]
    private static partial void LogDuplicate(ILogger logger, string sessionId, long id, int duplicates);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{SessionId}: the mail store failed (transient: {Transient}); the client gets 451 4.3.0")]
    private static partial void LogStoreFailed(ILogger logger, Exception exception, string sessionId, bool transient);
}
