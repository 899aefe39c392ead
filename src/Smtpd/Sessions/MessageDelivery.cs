using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;

namespace Smtpd.Sessions;

/// <summary>
/// Hands a finished message to the application's delivery callback (<see cref="SmtpServerOptions.DeliverMime"/>,
/// <see cref="SmtpServerOptions.Deliver"/> or <see cref="SmtpServerOptions.DeliverLines"/>, in that order of
/// precedence) and turns the verdicts into the replies: one for SMTP, one per recipient for LMTP (RFC 2033 4.2).
/// </summary>
internal static class MessageDelivery
{
    /// <summary>
    /// Drives <paramref name="protocol"/> over <paramref name="input"/> and acts on every "deliver this" it returns
    /// (<see cref="ProtocolInput.Deliver"/>): hands the message to the delivery callback, or accepts it when there is
    /// none, reports the outcome, and goes on with the rest of the input. Both drivers, the connection and the
    /// in-memory session, process input through here.
    /// </summary>
    /// <returns>What the protocol did with the input, over all its steps.</returns>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<ProtocolInput> ProcessAsync(SmtpProtocol protocol, ReadOnlySequence<byte> input, SmtpServerOptions options, SmtpCallbackInvoker callbacks)
    {
        var processed = await protocol.ProcessAsync(input);
        var progressed = processed.Progressed;
        while (processed.Deliver)
        {
            if (!HasCallback(options))
            {
                // A sink, like Postfix's smtp-sink: accepted without building a message object.
                protocol.Delivered(SmtpVerdict.Accept, recipientVerdicts: null);
            }
            else
            {
                var message = protocol.MessageToDeliver();
                var verdict = await callbacks.InvokeAsync(static (s, ct) => DeliverAsync(s.options, s.message, ct), (options, message), "Deliver");

                // Taken even after a failure, so that a late SetRecipientVerdict throws.
                protocol.Delivered(verdict, message.TakeRecipientVerdicts());
            }

            processed = await protocol.ProcessAsync(input.Slice(processed.Consumed));
            progressed |= processed.Progressed;
        }

        return processed with { Progressed = progressed };
    }

    /// <summary>Whether any delivery callback is set; without one the server is a sink, like Postfix's smtp-sink.</summary>
    public static bool HasCallback(SmtpServerOptions options) =>
        options.DeliverMime is not null || options.Deliver is not null || options.DeliverLines is not null;

    /// <summary>Calls the delivery callback that the options set; only called when <see cref="HasCallback"/>.</summary>
    public static async ValueTask<SmtpVerdict> DeliverAsync(SmtpServerOptions options, SmtpMessage message, CancellationToken cancellationToken)
    {
        if (options.DeliverMime is { } deliverMime)
        {
            await using var stream = message.OpenRead();
            MimeKit.MimeMessage mime;
            try
            {
                // persistent: the parts stay in the spooled content instead of being copied into memory.
                mime = await MimeKit.MimeMessage.LoadAsync(stream, persistent: true, cancellationToken);
            }
            catch (FormatException ex)
            {
                return SmtpVerdict.Reject(new SmtpReply(554, "5.6.0", "Message could not be parsed as MIME: " + SmtpProtocol.Printable(ex.Message)));
            }

            using (mime)
            {
                return await deliverMime(message, mime, cancellationToken);
            }
        }

        if (options.Deliver is { } deliver)
        {
            return await deliver(message, cancellationToken);
        }

        var recipients = message.Envelope.Recipients.Select(r => r.Address).ToArray();
        return await options.DeliverLines!(message.Envelope.SenderAddress, recipients, await ReadLinesAsync(message, cancellationToken), message.Session, cancellationToken);
    }

    /// <summary>
    /// The single SMTP reply for a message whose recipients have verdicts of their own: the first refusal in RCPT
    /// order, so that a 250 never covers a refused recipient; the callback's own reply when every recipient is
    /// accepted. See <see cref="SmtpMessage.SetRecipientVerdict(int, SmtpVerdict)"/>.
    /// </summary>
    public static SmtpReply OneReplyForAll(SmtpReply reply, SmtpVerdict?[] recipientVerdicts)
    {
        foreach (var verdict in recipientVerdicts)
        {
            var own = verdict is null ? reply : VerdictReply(verdict);
            if (!own.IsPositive)
            {
                return own;
            }
        }

        // Every recipient has an accepting verdict of its own: a refusal returned for "the others" covers nobody.
        return reply.IsPositive ? reply : SmtpReplies.MessageAccepted;
    }

    /// <summary>The reply for one recipient's own verdict.</summary>
    public static SmtpReply VerdictReply(SmtpVerdict verdict) =>
        verdict.Reply ?? (verdict.IsAccepted ? SmtpReplies.MessageAccepted : SmtpReplies.DeliveryRejected);

    private static async Task<IReadOnlyList<string>> ReadLinesAsync(SmtpMessage message, CancellationToken cancellationToken)
    {
        await using var stream = message.OpenRead();
        using var reader = new StreamReader(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: false);
        var text = await reader.ReadToEndAsync(cancellationToken);
        var lines = text.Split("\r\n");
        // The content ends with CRLF, which leaves one empty entry that is not a line.
        return text.EndsWith("\r\n", StringComparison.Ordinal) ? lines[..^1] : lines;
    }
}
