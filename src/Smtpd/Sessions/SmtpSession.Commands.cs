using System.Buffers;
using System.Text;
using Smtpd.IO;
using Smtpd.Logging;
using Smtpd.Parsing;
using Smtpd.Protocol;
using Smtpd.Protocol.Commands;

namespace Smtpd.Sessions;

/// <summary>The command handlers: one method per command, run once the state table has accepted it.</summary>
internal sealed partial class SmtpSession
{
    // The RFC 3461 parameters of the open transaction's MAIL; each recipient carries its own in SmtpMailbox.Dsn.
    private SmtpDsnReturn _dsnReturn;
    private string? _dsnEnvelopeId;

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
            _closeReason = CloseReason.Draining;
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
        if (_options.RequireTls && !_context.IsSecure && !SmtpStateTable.IsAllowedBeforeTls(command.Verb))
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
        var verdict = await InvokeAsync(static (s, ct) => s.filter(s.Item2, s.Item3, ct), (filter: _options.FilterCommand!, _context, VerbNames[(int)command.Verb]), "FilterCommand");
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

    private static readonly string[] VerbNames = Enum.GetValues<SmtpVerb>()
        .Select(v => v == SmtpVerb.StartTls ? "STARTTLS" : v.ToString().ToUpperInvariant())
        .ToArray();

    private ValueTask<bool> ExecuteCoreAsync(SmtpCommand command)
    {
        switch (command)
        {
            case UnknownCommand:
                return new(CountError(SmtpReplies.CommandUnrecognized));
            case ForbiddenCommand:
                Reply(SmtpReplies.ForbiddenProtocol);
                return new(true);
            case InvalidCommand invalid:
                return new(CountError(invalid.Reply));
            case HeloCommand helo:
                ExecuteHelo(helo);
                return new(false);
            case MailCommand mail:
                return ExecuteMailAsync(mail);
            case RcptCommand rcpt:
                return ExecuteRcptAsync(rcpt);
            case DataCommand:
                return new(ExecuteData());
            case BdatCommand chunk:
                ExecuteBdat(chunk);
                return new(false);
            case RsetCommand:
                // RFC 5321 4.1.1.5: RSET clears the transaction but not the HELO/EHLO state.
                ResetTransaction();
                return new(CountJunk(SmtpReplies.ResetOk));
            case NoopCommand:
                return new(CountJunk(SmtpReplies.Ok));
            case QuitCommand:
                Reply(SmtpReplies.Bye);
                return new(true);
            case VrfyCommand:
                return new(CountJunk(SmtpReplies.CannotVerify));
            case ExpnCommand:
                return new(CountJunk(SmtpReplies.ExpandNotImplemented));
            case HelpCommand:
                return new(CountJunk(_lmtp ? SmtpReplies.LmtpHelp : SmtpReplies.Help));
            case StartTlsCommand:
                return new(ExecuteStartTls());
            case AuthCommand auth:
                return ExecuteAuthAsync(auth);
            default:
                return new(CountError(SmtpReplies.CommandUnrecognized));
        }
    }

    private void ExecuteHelo(HeloCommand helo)
    {
        // RFC 5321 4.1.4: a successful HELO or EHLO resets the session as RSET does. LHLO has the semantics of EHLO
        // (RFC 2033 4.1) and lists the same extensions, PIPELINING and ENHANCEDSTATUSCODES among them (RFC 2033 5).
        ResetTransaction();
        _context.HeloName = helo.Domain;
        _context.IsExtended = helo.IsExtended;
        _state = SessionState.Ready;
        _enhancedStatusCodes = helo.IsExtended;
        if (!helo.IsExtended)
        {
            Reply(new SmtpReply(250, null, $"{_options.ServerName} Hello {PrintableAscii(helo.Domain)}"));
            return;
        }

        // The first line names the client; the rest is the same for every session of these options.
        WriteText("250-");
        WriteText(_options.ServerName);
        WriteText(" Hello ");
        WriteText(PrintableAscii(helo.Domain));
        WriteText("\r\n");
        var extensions = _options.EhloExtensions(_options.TlsAvailable && !_context.IsSecure, AuthenticationOffered ? AuthKeyword() : null);
        _output.Write(extensions);
        _hasUnflushedReplies = true;
        if (_logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Trace))
        {
            Log.ReplySent(_logger, $"250-{_options.ServerName} Hello {PrintableAscii(helo.Domain)} / {Encoding.ASCII.GetString(extensions).TrimEnd().Replace("\r\n", " / ", StringComparison.Ordinal)}");
        }
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
            var verdict = await InvokeAsync(static (s, ct) => s.validateSender(s.Item2, s.Item3, ct), (validateSender, _context, mail.Sender), "ValidateSender");
            if (Rejection(verdict, SmtpReplies.SenderRejected) is { } rejection)
            {
                Reply(rejection);
                return false;
            }

            accepted = verdict!.Reply ?? accepted;
        }

        _sender = mail.Sender;
        _body = mail.Body;
        _smtpUtf8 = mail.SmtpUtf8;
        _declaredSize = mail.DeclaredSize;
        _dsnReturn = mail.DsnReturn;
        _dsnEnvelopeId = mail.DsnEnvelopeId;
        _state = SessionState.MailGiven;
        Reply(accepted);
        return false;
    }

    private async ValueTask<bool> ExecuteRcptAsync(RcptCommand rcpt)
    {
        // RFC 5321 4.5.3.1.10: 452 for one recipient too many; the client may send the rest in another transaction.
        if (_recipients.Count >= _options.MaxRecipients)
        {
            Reply(SmtpReplies.TooManyRecipients);
            return false;
        }

        var accepted = SmtpReplies.RecipientOk;
        if (_options.ValidateRecipient is { } validateRecipient)
        {
            var verdict = await InvokeAsync(static (s, ct) => s.validateRecipient(s.Item2, s.Item3, ct), (validateRecipient, _context, rcpt.Recipient), "ValidateRecipient");
            if (Rejection(verdict, SmtpReplies.RecipientRejected) is { } rejection)
            {
                Reply(rejection);
                return false;
            }

            accepted = verdict!.Reply ?? accepted;
        }

        _recipients.Add(rcpt.Recipient);
        _state = SessionState.RecipientGiven;
        Reply(accepted);
        return false;
    }

    private bool ExecuteData()
    {
        if (_body == SmtpBodyType.BinaryMime)
        {
            return CountError(SmtpReplies.BinaryMimeNeedsBdat);
        }

        PrepareContent();
        _decoder ??= new DataDecoder(_options.BareLineEndings, _options.MaxTextLineLength);
        _decoder.Reset();
        _mode = InputMode.Data;
        Reply(SmtpReplies.StartMailInput);
        return false;
    }

    private void ExecuteBdat(BdatCommand chunk)
    {
        if (_state == SessionState.RecipientGiven)
        {
            PrepareContent();
            _state = SessionState.BdatInProgress;
        }

        StartChunk(chunk, rejection: null);
    }

    private void StartChunk(BdatCommand chunk, SmtpReply? rejection)
    {
        _chunkRemaining = chunk.Size;
        _chunkIsLast = chunk.IsLast;
        _chunkRejection = rejection;
        if (rejection is not null)
        {
            // The octets of a refused chunk are read into a buffer that stores nothing.
            _content ??= NewContentBuffer();
            _content.Reset();
            _content.MaxLength = 0;
        }

        _mode = InputMode.Chunk;
    }

    private async ValueTask<bool> CompleteChunkAsync()
    {
        if (_chunkRejection is { } rejection)
        {
            _chunkRejection = null;
            _content!.Reset();
            if (_lmtp && _chunkIsLast && _recipients.Count > 1)
            {
                // RFC 2033 4.3: the client of a BDAT LAST waits for one reply per accepted recipient, even when the
                // command itself is refused (by FilterCommand; out of sequence there are no recipients).
                for (var i = 1; i < _recipients.Count; i++)
                {
                    Reply(rejection);
                }
            }

            return CountError(rejection);
        }

        if (!_chunkIsLast)
        {
            if (_content!.Overflowed)
            {
                // RFC 3030 2: the transaction fails at the chunk that went over; later chunks get 503.
                ResetTransaction();
                Reply(SmtpReplies.SizeExceeded);
                return false;
            }

            ReplyChunkReceived(_content.ReceivedLength);
            return false;
        }

        // The last chunk ends the message as the end of DATA does, an overflow included (DeliverAsync answers it).
        return await DeliverAsync(textChecks: false);
    }

    private ValueTask<bool> CompleteDataAsync() => DeliverAsync(textChecks: true);

    /// <summary>
    /// Checks the finished content, hands it to the delivery callback, and answers: once in SMTP, once per accepted
    /// recipient in LMTP (RFC 2033 4.2, 4.3).
    /// </summary>
    private async ValueTask<bool> DeliverAsync(bool textChecks)
    {
        var content = _content!;
        SmtpReply reply;
        SmtpVerdict?[]? recipientVerdicts = null;
        if (textChecks && _decoder!.StoppedAtBareEndMarker)
        {
            // A 421: what followed the lone dot is neither content nor commands, so the session closes (DataDecoder).
            reply = SmtpReplies.BareEndMarker;
        }
        else if (content.Overflowed)
        {
            // RFC 5321 4.5.3.1.10 and aiosmtpd: the excess was discarded, the error comes after the end of data.
            reply = SmtpReplies.SizeExceeded;
        }
        else if (textChecks && _decoder!.SawBareLineEnding && _options.BareLineEndings == BareLineEndingPolicy.Reject)
        {
            reply = SmtpReplies.BareLineEnding;
        }
        else if (textChecks && _decoder!.SawLongLine)
        {
            reply = SmtpReplies.TextLineTooLong;
        }
        else
        {
            content.Complete();
            if (!HasDeliveryCallback)
            {
                // No delivery callback: the server is a sink, like Postfix's smtp-sink, and builds no message object.
                reply = SmtpReplies.MessageAccepted;
            }
            else
            {
                var message = new SmtpMessage(_context, new SmtpEnvelope(_sender, _recipients.ToArray(), _body, _smtpUtf8, _declaredSize, _dsnReturn, _dsnEnvelopeId), content);
                var verdict = await InvokeAsync(static (s, ct) => s.Item1.DeliverToCallbackAsync(s.message, ct), (this, message), "Deliver");
                reply = Rejection(verdict, SmtpReplies.DeliveryRejected) ?? verdict!.Reply ?? SmtpReplies.MessageAccepted;

                // Taken even after a failure, so that a late SetRecipientVerdict throws; but a callback that failed
                // fails every recipient with 451, whatever it had set.
                recipientVerdicts = message.TakeRecipientVerdicts();
                if (verdict is null)
                {
                    recipientVerdicts = null;
                }
            }
        }

        int accepted;
        if (_lmtp)
        {
            accepted = ReplyPerRecipient(reply, recipientVerdicts);
        }
        else
        {
            if (recipientVerdicts is not null)
            {
                reply = OneReplyForAll(reply, recipientVerdicts);
            }

            Reply(reply);
            accepted = reply.IsPositive ? _recipients.Count : 0;
        }

        if (accepted > 0)
        {
            _junkCommands = 0;
            Log.MessageAccepted(_logger, content.ReceivedLength, _sender?.Address ?? string.Empty, accepted);
        }

        ResetTransaction();
        return false;
    }

    /// <summary>
    /// RFC 2033 4.2: after the end of data, one reply for each successful RCPT, in RCPT order, duplicates included;
    /// a recipient without a verdict of its own gets <paramref name="reply"/>.
    /// </summary>
    /// <returns>How many recipients were accepted.</returns>
    private int ReplyPerRecipient(SmtpReply reply, SmtpVerdict?[]? recipientVerdicts)
    {
        var accepted = 0;
        for (var i = 0; i < _recipients.Count; i++)
        {
            var own = recipientVerdicts?[i] is { } verdict ? VerdictReply(verdict) : reply;
            Reply(own);
            accepted += own.IsPositive ? 1 : 0;
        }

        return accepted;
    }

    /// <summary>
    /// The single SMTP reply for a message whose recipients have verdicts of their own: the first refusal in RCPT
    /// order, so that a 250 never covers a refused recipient; the callback's own reply when every recipient is
    /// accepted. See <see cref="SmtpMessage.SetRecipientVerdict(int, SmtpVerdict)"/>.
    /// </summary>
    private static SmtpReply OneReplyForAll(SmtpReply reply, SmtpVerdict?[] recipientVerdicts)
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

    private static SmtpReply VerdictReply(SmtpVerdict verdict) =>
        verdict.Reply ?? (verdict.IsAccepted ? SmtpReplies.MessageAccepted : SmtpReplies.DeliveryRejected);

    private async ValueTask<SmtpVerdict> DeliverToCallbackAsync(SmtpMessage message, CancellationToken cancellationToken)
    {
        if (_options.DeliverMime is { } deliverMime)
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
                return SmtpVerdict.Reject(new SmtpReply(554, "5.6.0", "Message could not be parsed as MIME: " + Printable(ex.Message)));
            }

            using (mime)
            {
                return await deliverMime(message, mime, cancellationToken);
            }
        }

        if (_options.Deliver is { } deliver)
        {
            return await deliver(message, cancellationToken);
        }

        // Only called when some delivery callback is set (DeliverAsync accepts directly otherwise): this is the last.
        var recipients = message.Envelope.Recipients.Select(r => r.Address).ToArray();
        return await _options.DeliverLines!(message.Envelope.SenderAddress, recipients, await ReadLinesAsync(message, cancellationToken), _context, cancellationToken);
    }

    private static async Task<IReadOnlyList<string>> ReadLinesAsync(SmtpMessage message, CancellationToken cancellationToken)
    {
        await using var stream = message.OpenRead();
        using var reader = new StreamReader(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: false);
        var text = await reader.ReadToEndAsync(cancellationToken);
        var lines = text.Split("\r\n");
        // The content ends with CRLF, which leaves one empty entry that is not a line.
        return text.EndsWith("\r\n", StringComparison.Ordinal) ? lines[..^1] : lines;
    }

    private void PrepareContent()
    {
        _contentStartedAt = Environment.TickCount64;
        _content ??= NewContentBuffer();
        _content.Reset();
        _content.MaxLength = _options.MaxMessageSize;
        _content.CountOnly = !HasDeliveryCallback;
    }

    /// <summary>Whether anything will read the content; without a delivery callback the server is a sink.</summary>
    private bool HasDeliveryCallback => _options.DeliverMime is not null || _options.Deliver is not null || _options.DeliverLines is not null;

    private MessageBuffer NewContentBuffer() => new(_options.MessageMemoryThreshold, _options.MaxMessageSize, _options.SpoolDirectory);

    private void ResetTransaction()
    {
        if (IsDraining)
        {
            // The transaction the drain waited for is over: close now (with 421) rather than wait for the next command.
            _closeReason = CloseReason.Draining;
        }

        _sender = null;
        _recipients.Clear();
        _body = SmtpBodyType.SevenBit;
        _smtpUtf8 = false;
        _declaredSize = null;
        _dsnReturn = SmtpDsnReturn.None;
        _dsnEnvelopeId = null;
        _content?.Reset();
        if (_state is SessionState.MailGiven or SessionState.RecipientGiven or SessionState.BdatInProgress)
        {
            _state = SessionState.Ready;
        }
    }
}
