using System.Diagnostics;
using Smtpd.Logging;
using Smtpd.Protocol;
using Smtpd.Protocol.Commands;

namespace Smtpd.Sessions;

/// <summary>
/// Dispatch and the command handlers. Each handler is named by its verb's row in <see cref="CommandTable"/>
/// (SmtpProtocol.Table.cs) and runs only once the state table has accepted the command.
/// </summary>
internal sealed partial class SmtpProtocol
{
    /// <summary>Runs one command.</summary>
    /// <returns><see langword="true"/> when the session must close.</returns>
    private ValueTask<bool> ExecuteAsync(SmtpCommand command)
    {
        if (command is InvalidCommand { Verb: SmtpVerb.Bdat } unreadable)
        {
            // Without a valid size the chunk's end cannot be found, in any state: whatever follows could be content
            // mistaken for commands, so the session ends here.
            Reply(unreadable.Reply);
            return new(true);
        }

        if (IsDraining && !IsInTransaction && command.Verb != SmtpVerb.Quit)
        {
            // The server is draining: no new transaction starts here (421 follows, then the close).
            _drainCloseDue = true;
            return new(true);
        }

        if (SmtpStateTable.Check(command.Verb, _state, _lmtp) is { } outOfSequence)
        {
            if (command is BdatCommand chunk)
            {
                // RFC 3030 2: the chunk's octets follow the command whatever the reply; read and drop them,
                // so they can never be taken for commands.
                StartChunk(chunk, outOfSequence);
                return new(false);
            }

            return new(CountError(outOfSequence));
        }

        // RFC 3207 4: with RequireTls, only the commands that lead to TLS or away are served in plaintext.
        if (_options.RequireTls && !_context.IsSecure && !Row(command.Verb).AllowedBeforeTls)
        {
            return new(CountError(SmtpReplies.MustStartTls));
        }

        if (_options.FilterCommand is not null && command is not (UnknownCommand or InvalidCommand))
        {
            return FilterThenExecuteAsync(command);
        }

        return ExecuteCoreAsync(command);
    }

    private async ValueTask<bool> FilterThenExecuteAsync(SmtpCommand command)
    {
        var verdict = await _callbacks.InvokeAsync(static (s, ct) => s.filter(s.Item2, s.Item3, ct), (filter: _options.FilterCommand!, _context, Row(command.Verb).Name), "FilterCommand");
        if (verdict is { IsAccepted: true })
        {
            return await ExecuteCoreAsync(command);
        }

        var reply = verdict is null ? SmtpReplies.LocalError : verdict.Reply ?? SmtpReplies.CommandRejected;
        if (command is BdatCommand chunk)
        {
            StartChunk(chunk, reply);
            return false;
        }

        Reply(reply);
        return false;
    }

    private ValueTask<bool> ExecuteCoreAsync(SmtpCommand command) =>
        command is InvalidCommand invalid ? new(CountError(invalid.Reply)) : Row(command.Verb).Handler(this, command);

    private ValueTask<bool> ExecuteHelo(HeloCommand helo)
    {
        // RFC 5321 4.1.4: a successful HELO or EHLO resets the session as RSET does. LHLO has the semantics of EHLO
        // (RFC 2033 4.1) and lists the same extensions, PIPELINING and ENHANCEDSTATUSCODES among them (RFC 2033 5).
        ResetTransaction();
        _context.HeloName = helo.Domain;
        _context.IsExtended = helo.IsExtended;
        _state = SessionState.Ready;
        _enhancedStatusCodes = helo.IsExtended;
        var clientName = PrintableAscii(helo.Domain);
        if (!helo.IsExtended)
        {
            Reply(new SmtpReply(250, null, $"{_options.ServerName} Hello {clientName}"));
            return new(false);
        }

        var offerStartTls = _options.TlsAvailable && !_context.IsSecure;
        var authKeyword = AuthenticationOffered ? AuthKeyword : null;
        EhloReply.Write(Output, _options, clientName, offerStartTls, authKeyword);
        _hasPendingReplies = true;
        if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Trace))
        {
            var extensions = _options.EhloExtensions(offerStartTls, authKeyword);
            Log.ReplySent(_logger, $"250-{_options.ServerName} Hello {clientName} / {System.Text.Encoding.ASCII.GetString(extensions).TrimEnd().Replace("\r\n", " / ", StringComparison.Ordinal)}");
        }

        return new(false);
    }

    /// <summary>
    /// The client's name as the reply may echo it: replies stay printable ASCII (RFC 5321 4.2), so anything else
    /// (UTF-8 included) becomes '?'. The name callbacks see is unchanged.
    /// </summary>
    private static string PrintableAscii(string name) =>
        name.AsSpan().ContainsAnyExceptInRange((char)0x21, (char)0x7e)
            ? string.Create(name.Length, name, static (span, source) =>
            {
                for (var i = 0; i < source.Length; i++)
                {
                    span[i] = source[i] is >= (char)0x21 and <= (char)0x7e ? source[i] : '?';
                }
            })
            : name;

    private async ValueTask<bool> ExecuteMailAsync(MailCommand mail)
    {
        if (_options.RequireAuth && _context.AuthenticatedIdentity is null)
        {
            Reply(SmtpReplies.AuthRequired);
            return false;
        }

        // RFC 1870 6.1: a declared size over the limit is refused at MAIL.
        if (mail.DeclaredSize > _options.MaxMessageSize)
        {
            Reply(SmtpReplies.SizeExceededAtMail);
            return false;
        }

        var accepted = SmtpReplies.SenderOk;
        if (_options.ValidateSender is { } validateSender)
        {
            var verdict = await _callbacks.InvokeAsync(static (s, ct) => s.validateSender(s.Item2, s.Item3, ct), (validateSender, _context, mail.Sender), "ValidateSender");
            if (Rejection(verdict, SmtpReplies.SenderRejected) is { } rejection)
            {
                Reply(rejection);
                return false;
            }

            accepted = verdict!.Reply ?? accepted;
        }

        Transaction.Begin(mail);
        _state = SessionState.MailGiven;
        Reply(accepted);
        return false;
    }

    private async ValueTask<bool> ExecuteRcptAsync(RcptCommand rcpt)
    {
        // RFC 5321 4.5.3.1.10: 452 for one recipient too many; the client may send the rest in another transaction.
        if (Transaction.RecipientCount >= _options.MaxRecipients)
        {
            Reply(SmtpReplies.TooManyRecipients);
            return false;
        }

        var accepted = SmtpReplies.RecipientOk;

        // RFC 5321 4.5.1: a server must accept mail for postmaster, so that problems can always be reported; with
        // AlwaysAcceptPostmaster the recipient policy is not asked about it.
        if (_options.ValidateRecipient is { } validateRecipient)
        {
            if (_options.AlwaysAcceptPostmaster && rcpt.Recipient.IsPostmaster)
            {
                return AcceptRecipient(rcpt.Recipient, accepted);
            }

            var verdict = await _callbacks.InvokeAsync(static (s, ct) => s.validateRecipient(s.Item2, s.Item3, ct), (validateRecipient, _context, rcpt.Recipient), "ValidateRecipient");
            if (Rejection(verdict, SmtpReplies.RecipientRejected) is { } rejection)
            {
                Reply(rejection);
                return false;
            }

            accepted = verdict!.Reply ?? accepted;
        }

        return AcceptRecipient(rcpt.Recipient, accepted);
    }

    private bool AcceptRecipient(SmtpMailbox recipient, SmtpReply reply)
    {
        Transaction.AddRecipient(recipient);
        _state = SessionState.RecipientGiven;
        Reply(reply);
        return false;
    }

    private bool ExecuteData()
    {
        if (Transaction.Body == SmtpBodyType.BinaryMime)
        {
            return CountError(SmtpReplies.BinaryMimeNeedsBdat);
        }

        Transaction.PrepareContent(_time.GetTimestamp());
        Transaction.PrepareDecoder();
        _mode = InputMode.Data;
        Reply(SmtpReplies.StartMailInput);
        return false;
    }

    private ValueTask<bool> ExecuteBdat(BdatCommand chunk)
    {
        if (_state == SessionState.RecipientGiven)
        {
            Transaction.PrepareContent(_time.GetTimestamp());
            _state = SessionState.BdatInProgress;
        }

        StartChunk(chunk, rejection: null);
        return new(false);
    }

    private void StartChunk(BdatCommand chunk, SmtpReply? rejection)
    {
        Transaction.StartChunk(chunk, rejection);
        _mode = InputMode.Chunk;
    }

    private bool CompleteChunk()
    {
        var content = Transaction.Content!;
        if (Transaction.ChunkRejection is { } rejection)
        {
            Transaction.ChunkRejection = null;
            content.Reset();
            if (_lmtp && Transaction.ChunkIsLast && Transaction.RecipientCount > 1)
            {
                // RFC 2033 4.3: the client of a BDAT LAST waits for one reply per accepted recipient, even when the
                // command itself is refused (by FilterCommand; out of sequence there are no recipients).
                for (var i = 1; i < Transaction.RecipientCount; i++)
                {
                    Reply(rejection);
                }
            }

            return CountError(rejection);
        }

        if (!Transaction.ChunkIsLast)
        {
            if (content.Overflowed)
            {
                // RFC 3030 2: the transaction fails at the chunk that went over; later chunks get 503.
                ResetTransaction();
                Reply(SmtpReplies.SizeExceeded);
                return false;
            }

            ReplyChunkReceived(content.ReceivedLength);
            return false;
        }

        // The last chunk ends the message as the end of DATA does, an overflow included (EndContent answers it).
        return EndContent(textChecks: false);
    }

    /// <summary>
    /// Checks the finished content. A message that passes every check is not answered here: the protocol stops with
    /// <see cref="ProtocolInput.Deliver"/>, and its driver hands the message to delivery and reports the outcome to
    /// <see cref="Delivered"/>. Content that fails a check is answered at once.
    /// </summary>
    private bool EndContent(bool textChecks)
    {
        var content = Transaction.Content!;
        SmtpReply reply;
        if (textChecks && Transaction.Decoder!.StoppedAtBareEndMarker)
        {
            // A 421: what followed the lone dot is neither content nor commands, so the session closes (DataDecoder).
            reply = SmtpReplies.BareEndMarker;
        }
        else if (content.Overflowed)
        {
            // RFC 5321 4.5.3.1.10 and aiosmtpd: the excess was discarded, the error comes after the end of data.
            reply = SmtpReplies.SizeExceeded;
        }
        else if (textChecks && Transaction.Decoder!.SawBareLineEnding && _options.BareLineEndings == BareLineEndingPolicy.Reject)
        {
            reply = SmtpReplies.BareLineEnding;
        }
        else if (textChecks && Transaction.Decoder!.SawLongLine)
        {
            reply = SmtpReplies.TextLineTooLong;
        }
        else
        {
            content.Complete();
            _deliveryDue = true;
            return false;
        }

        EndTransaction(reply, recipientVerdicts: null);
        return false;
    }

    /// <summary>
    /// The message of <see cref="ProtocolInput.Deliver"/>, for the delivery callback: the session, the envelope and
    /// the content. Built only when a callback will see it (a sink builds none).
    /// </summary>
    public SmtpMessage MessageToDeliver()
    {
        Debug.Assert(_deliveryDue, "Only a message due for delivery is handed out.");
        return new SmtpMessage(_context, Transaction.ToEnvelope(), Transaction.Content!);
    }

    /// <summary>
    /// The driver has delivered the message of <see cref="ProtocolInput.Deliver"/>: answers it, once in SMTP, once per
    /// accepted recipient in LMTP (RFC 2033 4.2, 4.3), and ends the transaction. The driver then feeds the rest of the
    /// input to <see cref="ProcessAsync"/>.
    /// </summary>
    /// <param name="verdict">The delivery's verdict; <see langword="null"/> when the callback failed (451).</param>
    /// <param name="recipientVerdicts">Per-recipient verdicts the callback set, if any.</param>
    public void Delivered(SmtpVerdict? verdict, SmtpVerdict?[]? recipientVerdicts)
    {
        Debug.Assert(_deliveryDue, "Only a message due for delivery is answered.");
        _deliveryDue = false;
        var reply = Rejection(verdict, SmtpReplies.DeliveryRejected) ?? verdict!.Reply ?? SmtpReplies.MessageAccepted;

        // A callback that failed fails every recipient with 451, whatever it had set.
        EndTransaction(reply, verdict is null ? null : recipientVerdicts);
    }

    /// <summary>Answers the end of the content and ends the transaction.</summary>
    private void EndTransaction(SmtpReply reply, SmtpVerdict?[]? recipientVerdicts)
    {
        int accepted;
        if (_lmtp)
        {
            accepted = ReplyPerRecipient(reply, recipientVerdicts);
        }
        else
        {
            if (recipientVerdicts is not null)
            {
                reply = MessageDelivery.OneReplyForAll(reply, recipientVerdicts);
            }

            Reply(reply);
            accepted = reply.IsPositive ? Transaction.RecipientCount : 0;
        }

        if (accepted > 0)
        {
            _metrics?.Accepted(Transaction.Content!.ReceivedLength);
            _junkCommands = 0;
            Log.MessageAccepted(_logger, Transaction.Content!.ReceivedLength, Transaction.Sender?.Address ?? string.Empty, accepted);
        }

        ResetTransaction();
    }

    /// <summary>
    /// RFC 2033 4.2: after the end of data, one reply for each successful RCPT, in RCPT order, duplicates included;
    /// a recipient without a verdict of its own gets <paramref name="reply"/>.
    /// </summary>
    /// <returns>How many recipients were accepted.</returns>
    private int ReplyPerRecipient(SmtpReply reply, SmtpVerdict?[]? recipientVerdicts)
    {
        var accepted = 0;
        for (var i = 0; i < Transaction.RecipientCount; i++)
        {
            var own = recipientVerdicts?[i] is { } verdict ? MessageDelivery.VerdictReply(verdict) : reply;
            Reply(own);
            accepted += own.IsPositive ? 1 : 0;
        }

        return accepted;
    }

    private bool ExecuteStartTls()
    {
        if (_context.IsSecure)
        {
            return CountError(SmtpReplies.AlreadySecure);
        }

        if (!_options.TlsAvailable)
        {
            return CountError(SmtpReplies.TlsNotAvailable);
        }

        Reply(SmtpReplies.ReadyToStartTls);
        _startTlsRequested = true;
        return false;
    }

    private void ResetTransaction()
    {
        if (IsDraining)
        {
            // The transaction the drain waited for is over: close now (with 421) rather than wait for the next command.
            _drainCloseDue = true;
        }

        _transaction?.Reset();
        if (IsInTransaction)
        {
            _state = SessionState.Ready;
        }
    }
}
