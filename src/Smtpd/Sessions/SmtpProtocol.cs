using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Smtpd.Logging;
using Smtpd.Parsing;
using Smtpd.Protocol;
using Smtpd.Protocol.Commands;

namespace Smtpd.Sessions;

/// <summary>What one call of <see cref="SmtpProtocol.ProcessAsync"/> did with its input.</summary>
/// <param name="Consumed">Where the unconsumed input starts: a partial line or chunk, or the plaintext after STARTTLS.</param>
/// <param name="Close">The session must close once the replies are sent.</param>
/// <param name="Progressed">At least one line, or the end of some content, was complete: the next command line starts now.</param>
/// <param name="Deliver">
/// A message is complete and passed every check: the driver hands <see cref="SmtpProtocol.MessageToDeliver"/> to
/// delivery (or accepts it, as a sink), reports the outcome to <see cref="SmtpProtocol.Delivered"/>, and feeds the
/// input from <paramref name="Consumed"/> on again.
/// </param>
internal readonly record struct ProtocolInput(SequencePosition Consumed, bool Close, bool Progressed, bool Deliver);

/// <summary>
/// The SMTP (and LMTP) protocol of one session, free of I/O, as Kestrel's <c>HttpProtocol</c> is free of its
/// transport. Bytes go in through <see cref="ProcessAsync"/>; replies come out into <see cref="Output"/>; the
/// transport learns from <see cref="ProtocolInput.Close"/>, <see cref="CloseRequested"/>,
/// <see cref="StartTlsRequested"/> and <see cref="ProtocolInput.Deliver"/> ("deliver this") what to do next. It owns the session state, the input modes (commands, DATA,
/// BDAT, SASL), the dispatch through the state table, the transaction and the replies; the application's callbacks
/// run through <see cref="SmtpCallbackInvoker"/>, which the transport may watch; delivery is the driver's
/// (<see cref="MessageDelivery.ProcessAsync"/>).
/// </summary>
/// <remarks>
/// <see cref="SmtpConnection"/> drives it over a socket; the transcript tests and the session fuzz target drive it
/// from memory (<see cref="InMemorySmtpSession"/>). Time comes from a <see cref="TimeProvider"/>.
/// </remarks>
internal sealed partial class SmtpProtocol : IDisposable
{
    private readonly SmtpServerOptions _options;
    private readonly ILogger _logger;
    private readonly SmtpSessionContext _context;
    private readonly TimeProvider _time;
    private readonly SmtpCallbackInvoker _callbacks;

    // LMTP (RFC 2033) instead of SMTP: fixed for the session's life by its listener.
    private readonly bool _lmtp;

    // Created at the first command that needs it: a session that never starts a transaction never pays for it
    // (docs/performance.md, idle memory per connection).
    private SmtpTransaction? _transaction;

    // The parser's reusable commands and recent mailboxes: MAIL, RCPT and BDAT allocate nothing once warm.
    private CommandCache? _commandCache;

    private SessionState _state = SessionState.Initial;
    private InputMode _mode = InputMode.Command;
    private bool _enhancedStatusCodes;
    private int _errors;
    private int _junkCommands;
    private bool _hasPendingReplies;
    private bool _closeAfterReply;
    private bool _startTlsRequested;
    private bool _deliveryDue;
    private int _draining;
    private bool _drainCloseDue;

    // The listener's instruments (null in memory), and the command the next reply answers: null for the greeting.
    private readonly SmtpServerMetrics.Listener? _metrics;
    private SmtpVerb? _replyingTo;

    public SmtpProtocol(SmtpServerOptions options, ILogger logger, SmtpSessionContext context, bool lmtp, TimeProvider time, SmtpCallbackInvoker callbacks, IBufferWriter<byte> output, SmtpServerMetrics.Listener? metrics = null)
    {
        _metrics = metrics;
        _options = options;
        _logger = logger;
        _context = context;
        _lmtp = lmtp;
        _time = time;
        _callbacks = callbacks;
        Output = output;
    }

    private enum InputMode
    {
        /// <summary>Reading command lines.</summary>
        Command,

        /// <summary>Discarding the rest of a command line that went over the limit.</summary>
        DiscardLongLine,

        /// <summary>Reading DATA content up to CRLF.CRLF.</summary>
        Data,

        /// <summary>Reading exactly the octets of a BDAT chunk.</summary>
        Chunk,

        /// <summary>Reading a line of an AUTH exchange (RFC 4954 4), which is never a command.</summary>
        SaslResponse,

        /// <summary>Discarding the rest of an AUTH exchange line that went over the limit.</summary>
        DiscardLongSaslLine,
    }

    /// <summary>What the synchronous parsing step found.</summary>
    private enum Step
    {
        NeedMoreData,
        Command,
        LineTooLong,
        DataComplete,
        ChunkComplete,
        SaslResponse,
    }

    private SmtpTransaction Transaction => _transaction ??= new SmtpTransaction(_options);

    /// <summary>Where replies go: the transport's pipe, or a buffer in memory. The transport swaps it after TLS.</summary>
    public IBufferWriter<byte> Output { get; set; }

    /// <summary>Whether replies were written since the transport last sent them (<see cref="RepliesSent"/>).</summary>
    public bool HasPendingReplies => _hasPendingReplies;

    /// <summary>A 421 was written (RFC 5321 3.8): the connection closes once it is sent.</summary>
    public bool CloseRequested => _closeAfterReply;

    /// <summary>
    /// STARTTLS was accepted and its 220 written: the transport sends it, drops the rest of the input, runs the
    /// handshake and calls <see cref="TlsEstablished"/>.
    /// </summary>
    public bool StartTlsRequested => _startTlsRequested;

    /// <summary>Whether replies carry enhanced status codes (RFC 2034), which EHLO turned on.</summary>
    public bool EnhancedStatusCodes => _enhancedStatusCodes;

    /// <summary>Whether a mail transaction is open.</summary>
    public bool IsInTransaction => _state is SessionState.MailGiven or SessionState.RecipientGiven or SessionState.BdatInProgress;

    /// <summary>Whether the input is content (DATA or a BDAT chunk), which the data timeout and rate govern.</summary>
    public bool IsReadingContent => _mode is InputMode.Data or InputMode.Chunk;

    /// <summary>The server is draining and this session's transaction, if any, is over: it gets 421 and closes now.</summary>
    public bool DrainCloseDue => _drainCloseDue;

    private bool IsDraining => Volatile.Read(ref _draining) != 0;

    /// <summary>The transport has sent every reply written so far.</summary>
    public void RepliesSent() => _hasPendingReplies = false;

    /// <summary>
    /// The server is draining: no new transaction starts (RFC 5321 3.8). Thread-safe; the protocol notices at its
    /// next command or at the end of the open transaction.
    /// </summary>
    public void BeginDrain() => Volatile.Write(ref _draining, 1);

    /// <summary>Writes the greeting, after the host validation callback if there is one.</summary>
    public async ValueTask GreetAsync()
    {
        var greeting = _options.Greeting;
        if (_options.ValidateHost is { } validateHost)
        {
            var verdict = await _callbacks.InvokeAsync(static (s, ct) => s.validateHost(s.Item2, ct), (validateHost, _context), "ValidateHost");
            if (verdict is null)
            {
                _state = SessionState.Rejected;
                greeting = SmtpReplies.LocalError;
            }
            else if (!verdict.IsAccepted)
            {
                // Tcl smtpd: "550 Access denied: <error text>"; the connection stays open until QUIT.
                _state = SessionState.Rejected;
                greeting = verdict.Reply ?? new SmtpReply(550, null, verdict.Reason is { Length: > 0 } reason ? $"Access denied: {Printable(reason)}" : "Access denied");
            }
            else if (verdict.Reply is not null)
            {
                greeting = verdict.Reply;
            }
        }

        Reply(greeting);
    }

    /// <summary>
    /// Runs every complete command, SASL line and piece of content in <paramref name="input"/>, writing the replies to
    /// <see cref="Output"/>. Stops early when the session must close or STARTTLS was accepted; in that case the
    /// plaintext that followed STARTTLS is consumed and dropped, never executed (RFC 3207 4.2, CVE-2011-0411).
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ProtocolInput> ProcessAsync(ReadOnlySequence<byte> input)
    {
        var buffer = input;

        // A 421 written by Delivered ends the session before anything else is read.
        var close = _closeAfterReply;
        var progressed = false;
        while (!close && !_startTlsRequested && !_deliveryDue)
        {
            var step = ReadNext(ref buffer, out var command);
            if (step == Step.NeedMoreData)
            {
                break;
            }

            progressed = true;
            // Content and SASL lines answer the DATA, BDAT or AUTH that started them, so only a new line changes it.
            _replyingTo = step switch
            {
                Step.Command => command!.Verb,
                Step.LineTooLong => SmtpVerb.Unknown,
                _ => _replyingTo,
            };
            close = step switch
            {
                Step.Command => await ExecuteAsync(command!),
                Step.LineTooLong => CountError(SmtpReplies.LineTooLong),
                Step.DataComplete => EndContent(textChecks: true),
                Step.ChunkComplete => CompleteChunk(),
                Step.SaslResponse => await ContinueAuthenticationAsync(),
                _ => false,
            };
            close |= _closeAfterReply;
        }

        if (_startTlsRequested && !buffer.IsEmpty)
        {
            // RFC 3207 4.2 and CVE-2011-0411: plaintext that came after STARTTLS is never executed.
            Log.PlaintextAfterStartTlsDiscarded(_logger, buffer.Length);
            buffer = buffer.Slice(buffer.End);
        }

        return new ProtocolInput(buffer.Start, close, progressed, _deliveryDue);
    }

    /// <summary>
    /// The TLS handshake after STARTTLS (or of an implicit-TLS listener) succeeded. Everything learned before it is
    /// forgotten (RFC 3207 4.2): the client must send EHLO again, and any transaction is gone.
    /// </summary>
    public void TlsEstablished()
    {
        _startTlsRequested = false;
        ResetTransaction();
        _state = SessionState.Initial;
        _enhancedStatusCodes = false;
        _context.HeloName = null;
        _context.IsExtended = false;
        _context.AuthenticatedIdentity = null;
        _context.AuthenticationMechanism = null;
    }

    /// <summary>Whether content is arriving slower than <see cref="SmtpServerOptions.MinimumDataRate"/> after the grace period.</summary>
    public bool DataRateTooLow()
    {
        if (_options.MinimumDataRate <= 0 || !IsReadingContent || _transaction?.Content is not { } content)
        {
            return false;
        }

        var elapsed = _time.GetElapsedTime(Transaction.ContentStartedAt) - _options.MinimumDataRateGracePeriod;
        return elapsed > TimeSpan.Zero && content.ReceivedLength < elapsed.TotalSeconds * _options.MinimumDataRate;
    }

    /// <summary>Writes a reply; a 421, whoever chose it, closes the connection once sent (RFC 5321 3.8, 4.2.2).</summary>
    public void Reply(SmtpReply reply)
    {
        _closeAfterReply |= reply.Code == 421;
        if (reply.Code >= 400)
        {
            _metrics?.Rejected(reply.Code, _replyingTo);
        }

        var bytes = reply.GetBytes(_enhancedStatusCodes);
        Output.Write(bytes);
        _hasPendingReplies = true;
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.ReplySent(_logger, Encoding.UTF8.GetString(bytes).TrimEnd());
        }
    }

    public void Dispose() => _transaction?.Dispose();

    /// <summary>The synchronous half of the loop: finds the next command, or feeds content to DATA or BDAT.</summary>
    private Step ReadNext(ref ReadOnlySequence<byte> buffer, out SmtpCommand? command)
    {
        command = null;
        while (true)
        {
            switch (_mode)
            {
                case InputMode.Command:
                case InputMode.SaslResponse:
                {
                    // AUTH lines may be longer than commands (RFC 4954 4): read up to the larger limit while AUTH is
                    // on offer, then hold every other command to its own limit.
                    var limit = _mode == InputMode.SaslResponse || AuthenticationOffered
                        ? Math.Max(_options.MaxCommandLineLength, SmtpServerOptions.MaxAuthLineLength)
                        : _options.MaxCommandLineLength;
                    var reader = new SequenceReader<byte>(buffer);
                    var status = CommandLineReader.TryReadLine(ref reader, limit, out var line);
                    if (status == LineReadStatus.NeedMoreData)
                    {
                        return Step.NeedMoreData;
                    }

                    if (status == LineReadStatus.TooLong)
                    {
                        _mode = _mode == InputMode.SaslResponse ? InputMode.DiscardLongSaslLine : InputMode.DiscardLongLine;
                        continue;
                    }

                    buffer = buffer.Slice(reader.Position);
                    if (_mode == InputMode.SaslResponse)
                    {
                        _saslResponse = ReadSaslLine(line);
                        return Step.SaslResponse;
                    }

                    command = ParseCommand(line);
                    if (line.Length + 1 > _options.MaxCommandLineLength && command.Verb != SmtpVerb.Auth)
                    {
                        command = null;
                        return Step.LineTooLong;
                    }

                    return Step.Command;
                }

                case InputMode.DiscardLongSaslLine:
                {
                    var reader = new SequenceReader<byte>(buffer);
                    var found = CommandLineReader.SkipPastLineFeed(ref reader);
                    buffer = buffer.Slice(reader.Position);
                    if (!found)
                    {
                        return Step.NeedMoreData;
                    }

                    _mode = InputMode.SaslResponse;
                    _saslResponse = null;
                    return Step.SaslResponse;
                }

                case InputMode.DiscardLongLine:
                {
                    var reader = new SequenceReader<byte>(buffer);
                    var found = CommandLineReader.SkipPastLineFeed(ref reader);
                    buffer = buffer.Slice(reader.Position);
                    if (!found)
                    {
                        return Step.NeedMoreData;
                    }

                    _mode = InputMode.Command;
                    return Step.LineTooLong;
                }

                case InputMode.Data:
                {
                    var offset = 0L;
                    var decoder = Transaction.Decoder!;
                    var content = Transaction.Content!;
                    foreach (var segment in buffer)
                    {
                        var used = decoder.Decode(segment.Span, content);
                        offset += used;
                        if (decoder.IsDone)
                        {
                            buffer = buffer.Slice(offset);
                            _mode = InputMode.Command;
                            return Step.DataComplete;
                        }
                    }

                    buffer = buffer.Slice(buffer.End);
                    return Step.NeedMoreData;
                }

                case InputMode.Chunk:
                {
                    if (Transaction.ChunkRemaining == 0)
                    {
                        _mode = InputMode.Command;
                        return Step.ChunkComplete;
                    }

                    var take = Math.Min(Transaction.ChunkRemaining, buffer.Length);
                    foreach (var segment in buffer.Slice(0, take))
                    {
                        Transaction.Content!.Write(segment.Span);
                    }

                    Transaction.ChunkRemaining -= take;
                    buffer = buffer.Slice(take);
                    if (Transaction.ChunkRemaining > 0)
                    {
                        return Step.NeedMoreData;
                    }

                    _mode = InputMode.Command;
                    return Step.ChunkComplete;
                }
            }
        }
    }

    private SmtpCommand ParseCommand(in ReadOnlySequence<byte> line)
    {
        var command = ParseCommandCore(line);
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            // AUTH initial responses carry credentials: the transcript shows only the mechanism.
            Log.CommandReceived(_logger, command is AuthCommand auth ? $"AUTH {auth.Mechanism}{(auth.InitialResponse is null ? "" : " ****")}" : Encoding.UTF8.GetString(line).TrimEnd('\r'));
        }

        return command;
    }

    private SmtpCommand ParseCommandCore(in ReadOnlySequence<byte> line)
    {
        if (line.IsSingleSegment)
        {
            return CommandParser.Parse(line.FirstSpan, _transaction?.SmtpUtf8 == true, _options.EnableDsn, _commandCache ??= new CommandCache(), _lmtp);
        }

        // A line split across buffer segments is copied once; it is at most MaxCommandLineLength octets.
        var length = (int)line.Length;
        var rented = length <= 1024 ? null : ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> copy = rented ?? stackalloc byte[1024];
            line.CopyTo(copy);
            return CommandParser.Parse(copy[..length], _transaction?.SmtpUtf8 == true, _options.EnableDsn, _commandCache ??= new CommandCache(), _lmtp);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The reply for a verdict that is not an acceptance: 451 for a failed callback, else the verdict's reply or the standard one.</summary>
    private static SmtpReply? Rejection(SmtpVerdict? verdict, SmtpReply standard) => verdict switch
    {
        null => SmtpReplies.LocalError,
        { IsAccepted: true } => null,
        _ => verdict.Reply ?? standard,
    };

    /// <summary>Answers a junk command (NOOP, RSET, VRFY, EXPN, HELP) and counts it (Postfix's smtpd_junk_command_limit).</summary>
    /// <returns><see langword="true"/> when the limit was passed and the session must close.</returns>
    private bool CountJunk(SmtpReply reply)
    {
        if (++_junkCommands <= _options.MaxJunkCommands)
        {
            Reply(reply);
            return false;
        }

        Reply(SmtpReplies.TooManyJunkCommands);
        Log.SessionClosed(_logger, "too many junk commands");
        return true;
    }

    /// <summary>Sends an error reply and counts it.</summary>
    /// <returns><see langword="true"/> when the error limit was reached and the session must close.</returns>
    private bool CountError(SmtpReply reply)
    {
        Reply(reply);
        if (++_errors < _options.MaxErrors)
        {
            return false;
        }

        Reply(SmtpReplies.TooManyErrors);
        Log.SessionClosed(_logger, "too many errors");
        return true;
    }

    /// <summary>
    /// <c>250 2.0.0 N octets received</c> after a BDAT chunk that is not the last (RFC 3030 2). The count differs
    /// every time, so instead of an <see cref="SmtpReply"/> (two strings and an array) it is formatted straight into
    /// the output.
    /// </summary>
    private void ReplyChunkReceived(long received)
    {
        var span = Output.GetSpan(64);
        var prefix = _enhancedStatusCodes ? "250 2.0.0 "u8 : "250 "u8;
        prefix.CopyTo(span);
        System.Buffers.Text.Utf8Formatter.TryFormat(received, span[prefix.Length..], out var digits);
        var length = prefix.Length + digits;
        " octets received\r\n"u8.CopyTo(span[length..]);
        length += " octets received\r\n"u8.Length;
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.ReplySent(_logger, Encoding.UTF8.GetString(span[..(length - 2)]));
        }

        Output.Advance(length);
        _hasPendingReplies = true;
    }

    /// <summary>Replaces control characters so that callback text cannot forge reply lines.</summary>
    internal static string Printable(string text) => string.Create(text.Length, text, static (span, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            span[i] = char.IsControl(source[i]) ? ' ' : source[i];
        }
    });
}
