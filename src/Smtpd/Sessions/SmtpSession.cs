using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Smtpd.IO;
using Smtpd.Logging;
using Smtpd.Parsing;
using Smtpd.Protocol;
using Smtpd.Protocol.Commands;

namespace Smtpd.Sessions;

/// <summary>Why a session is being closed from outside its read loop.</summary>
internal enum CloseReason
{
    None,
    Timeout,
    Shutdown,
}

/// <summary>
/// One SMTP connection: the read loop that feeds the I/O-free parsers, the state machine that the
/// <see cref="SmtpStateTable"/> drives, and the callbacks. Reading follows the System.IO.Pipelines pattern:
/// <c>ReadAsync</c>, parse, <c>AdvanceTo(consumed, examined)</c> in a <c>finally</c>, and only then
/// <c>IsCompleted</c>. Replies are written without flushing and flushed once the input is drained, which
/// groups the replies to a PIPELINING batch (RFC 2920 3.2) into one write.
/// </summary>
internal sealed class SmtpSession : IAsyncDisposable
{
    private static long s_nextId;

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly SmtpServerOptions _options;
    private readonly ILogger _logger;
    private readonly SmtpSessionContext _context;
    private readonly CancellationTokenSource _aborted = new();
    private readonly CancellationTokenSource _timeout = new();
    private readonly List<SmtpMailbox> _recipients = [];

    private SessionState _state = SessionState.Initial;
    private InputMode _mode = InputMode.Command;
    private CloseReason _closeReason;
    private bool _enhancedStatusCodes;
    private int _errors;
    private bool _hasUnflushedReplies;
    private int _disposed;

    // The open transaction (RFC 5321 3.3).
    private SmtpMailbox? _sender;
    private SmtpBodyType _body;
    private bool _smtpUtf8;
    private long? _declaredSize;
    private MessageBuffer? _content;
    private DataDecoder? _decoder;
    private long _chunkRemaining;
    private bool _chunkIsLast;
    private SmtpReply? _chunkRejection;

    public SmtpSession(Socket socket, SmtpServerOptions options, ILogger logger)
    {
        _socket = socket;
        _options = options;
        _logger = logger;
        _stream = new NetworkStream(socket, ownsSocket: true);
        // Zero-byte reads let an idle session wait without holding a buffer (as Kestrel's socket transport does).
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024, leaveOpen: true, useZeroByteReads: true));
        _output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: 4 * 1024, leaveOpen: true));
        _context = new SmtpSessionContext(
            Interlocked.Increment(ref s_nextId).ToString("x8", System.Globalization.CultureInfo.InvariantCulture),
            (IPEndPoint)socket.RemoteEndPoint!,
            (IPEndPoint)socket.LocalEndPoint!);
        _timeout.Token.UnsafeRegister(static state => ((SmtpSession)state!).Interrupt(CloseReason.Timeout), this);
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
    }

    /// <summary>What the synchronous parsing step found.</summary>
    private enum Step
    {
        NeedMoreData,
        Command,
        LineTooLong,
        DataComplete,
        ChunkComplete,
    }

    public SmtpSessionContext Context => _context;

    /// <summary>Runs the session to its end. Never throws.</summary>
    public async Task RunAsync()
    {
        using var scope = _logger.BeginScope(new SessionScope(_context.Id));
        Log.SessionStarted(_logger, _context.RemoteEndPoint);
        try
        {
            if (await GreetAsync())
            {
                await ProcessInputAsync();
            }
        }
        catch (OperationCanceledException) when (_closeReason != CloseReason.None)
        {
            // Shutdown cancelled a callback in flight: the client still gets its 421.
            await CloseWithReplyAsync();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            Log.ConnectionLost(_logger, ex);
        }
        catch (Exception ex)
        {
            Log.SessionFailed(_logger, ex);
        }
        finally
        {
            await DisposeAsync();
            Log.SessionEnded(_logger);
        }
    }

    /// <summary>
    /// Ends the session from outside: the read loop wakes, sends <c>421</c> and closes. Used by server shutdown.
    /// </summary>
    public void Abort() => Interrupt(CloseReason.Shutdown);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _timeout.CancelAfter(Timeout.Infinite);
        await _aborted.CancelAsync();

        _content?.Dispose();
        await _input.CompleteAsync();
        await _output.CompleteAsync();
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        await _stream.DisposeAsync();
        _timeout.Dispose();
        _aborted.Dispose();
    }

    private void Interrupt(CloseReason reason)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        if (_closeReason == CloseReason.None)
        {
            _closeReason = reason;
        }

        try
        {
            _input.CancelPendingRead();
            _output.CancelPendingFlush();
            if (reason == CloseReason.Shutdown)
            {
                _aborted.Cancel();
            }
        }
        catch (ObjectDisposedException)
        {
            // The session ended while it was being interrupted: nothing is left to wake.
        }
    }

    /// <summary>Sends the greeting, after the host validation callback if there is one.</summary>
    /// <returns><see langword="false"/> when the session must end.</returns>
    private async ValueTask<bool> GreetAsync()
    {
        var greeting = new SmtpReply(220, null, $"{_options.ServerName} {_options.Banner}".TrimEnd());
        if (_options.ValidateHost is { } validateHost)
        {
            var verdict = await InvokeAsync(static (s, ct) => s.validateHost(s.Item2, ct), (validateHost, _context), "ValidateHost");
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
        return await FlushAsync();
    }

    private async Task ProcessInputAsync()
    {
        while (true)
        {
            _timeout.CancelAfter(_mode is InputMode.Data or InputMode.Chunk ? _options.DataTimeout : _options.CommandTimeout);
            var result = await _input.ReadAsync();
            _timeout.CancelAfter(Timeout.Infinite);
            if (result.IsCanceled || _closeReason != CloseReason.None)
            {
                await CloseWithReplyAsync();
                return;
            }

            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var close = false;
            try
            {
                while (!close)
                {
                    var step = ReadNext(ref buffer, out var command);
                    consumed = buffer.Start;
                    if (step == Step.NeedMoreData)
                    {
                        break;
                    }

                    close = step switch
                    {
                        Step.Command => await ExecuteAsync(command!),
                        Step.LineTooLong => CountError(SmtpReplies.LineTooLong),
                        Step.DataComplete => await CompleteDataAsync(),
                        Step.ChunkComplete => await CompleteChunkAsync(),
                        _ => false,
                    };
                }

                // The input is drained: send every reply of the batch in one write (RFC 2920 3.2).
                if (!await FlushAsync())
                {
                    close = true;
                }
            }
            finally
            {
                // Everything up to the end has been examined; what was not consumed is a partial line or chunk.
                _input.AdvanceTo(consumed, result.Buffer.End);
            }

            if (close || _closeReason != CloseReason.None)
            {
                if (_closeReason != CloseReason.None)
                {
                    await CloseWithReplyAsync();
                }

                return;
            }

            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>The synchronous half of the loop: finds the next command, or feeds content to DATA or BDAT.</summary>
    private Step ReadNext(ref ReadOnlySequence<byte> buffer, out SmtpCommand? command)
    {
        command = null;
        while (true)
        {
            switch (_mode)
            {
                case InputMode.Command:
                {
                    var reader = new SequenceReader<byte>(buffer);
                    var status = CommandLineReader.TryReadLine(ref reader, _options.MaxCommandLineLength, out var line);
                    if (status == LineReadStatus.NeedMoreData)
                    {
                        return Step.NeedMoreData;
                    }

                    if (status == LineReadStatus.TooLong)
                    {
                        _mode = InputMode.DiscardLongLine;
                        continue;
                    }

                    command = ParseCommand(line);
                    buffer = buffer.Slice(reader.Position);
                    return Step.Command;
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
                    foreach (var segment in buffer)
                    {
                        var used = _decoder!.Decode(segment.Span, _content!);
                        offset += used;
                        if (_decoder.IsDone)
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
                    if (_chunkRemaining == 0)
                    {
                        _mode = InputMode.Command;
                        return Step.ChunkComplete;
                    }

                    var take = Math.Min(_chunkRemaining, buffer.Length);
                    foreach (var segment in buffer.Slice(0, take))
                    {
                        _content!.Write(segment.Span);
                    }

                    _chunkRemaining -= take;
                    buffer = buffer.Slice(take);
                    if (_chunkRemaining > 0)
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
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.CommandReceived(_logger, Encoding.UTF8.GetString(line).TrimEnd('\r'));
        }

        if (line.IsSingleSegment)
        {
            return CommandParser.Parse(line.FirstSpan, _smtpUtf8);
        }

        // A line split across buffer segments is copied once; it is at most MaxCommandLineLength octets.
        var length = (int)line.Length;
        var rented = length <= 1024 ? null : ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> copy = rented ?? stackalloc byte[1024];
            line.CopyTo(copy);
            return CommandParser.Parse(copy[..length], _smtpUtf8);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Runs one command.</summary>
    /// <returns><see langword="true"/> when the session must close.</returns>
    private ValueTask<bool> ExecuteAsync(SmtpCommand command)
    {
        if (SmtpStateTable.Check(command.Verb, _state) is { } outOfSequence)
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

        switch (command)
        {
            case UnknownCommand:
                return new(CountError(SmtpReplies.CommandUnrecognized));
            case InvalidCommand invalid when invalid.Verb == SmtpVerb.Bdat:
                // Without a valid size the chunk's end cannot be found: whatever follows could be content
                // mistaken for commands, so the session ends here.
                Reply(invalid.Reply);
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
                Reply(SmtpReplies.ResetOk);
                return new(false);
            case NoopCommand:
                Reply(SmtpReplies.Ok);
                return new(false);
            case QuitCommand:
                Reply(SmtpReplies.Bye);
                return new(true);
            case VrfyCommand:
                Reply(SmtpReplies.CannotVerify);
                return new(false);
            case ExpnCommand:
                Reply(SmtpReplies.ExpandNotImplemented);
                return new(false);
            case HelpCommand:
                Reply(SmtpReplies.Help);
                return new(false);
            default:
                return new(CountError(SmtpReplies.CommandUnrecognized));
        }
    }

    private void ExecuteHelo(HeloCommand helo)
    {
        // RFC 5321 4.1.4: a successful HELO or EHLO resets the session as RSET does.
        ResetTransaction();
        _context.HeloName = helo.Domain;
        _context.IsExtended = helo.IsExtended;
        _state = SessionState.Ready;
        _enhancedStatusCodes = helo.IsExtended;
        var greeting = $"{_options.ServerName} Hello {helo.Domain}";
        Reply(helo.IsExtended
            ? new SmtpReply(250, null, [
                greeting,
                // RFC 1870: SIZE with the limit; RFC 6152, 6531, 2920, 3030, 2034.
                $"SIZE {_options.MaxMessageSize}",
                "8BITMIME",
                "SMTPUTF8",
                "PIPELINING",
                "CHUNKING",
                "BINARYMIME",
                "ENHANCEDSTATUSCODES",
                "HELP",
            ])
            : new SmtpReply(250, null, greeting));
    }

    private async ValueTask<bool> ExecuteMailAsync(MailCommand mail)
    {
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
            return CountError(rejection);
        }

        if (_content!.Overflowed)
        {
            // RFC 3030 2: the transaction fails at the chunk that went over; later chunks get 503.
            ResetTransaction();
            Reply(SmtpReplies.SizeExceeded);
            return false;
        }

        if (!_chunkIsLast)
        {
            Reply(new SmtpReply(250, "2.0.0", $"{_content.ReceivedLength} octets received"));
            return false;
        }

        return await DeliverAsync(textChecks: false);
    }

    private ValueTask<bool> CompleteDataAsync() => DeliverAsync(textChecks: true);

    /// <summary>Checks the finished content, hands it to the delivery callback, and answers.</summary>
    private async ValueTask<bool> DeliverAsync(bool textChecks)
    {
        var content = _content!;
        SmtpReply reply;
        if (content.Overflowed)
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
            var message = new SmtpMessage(_context, new SmtpEnvelope(_sender, _recipients.ToArray(), _body, _smtpUtf8, _declaredSize), content);
            var verdict = await InvokeAsync(static (s, ct) => s.Item1.DeliverToCallbackAsync(s.message, ct), (this, message), "Deliver");
            reply = Rejection(verdict, SmtpReplies.DeliveryRejected) ?? verdict!.Reply ?? SmtpReplies.MessageAccepted;
            if (reply.IsPositive)
            {
                Log.MessageAccepted(_logger, message.Size, message.Envelope.SenderAddress, message.Envelope.Recipients.Count);
            }
        }

        ResetTransaction();
        Reply(reply);
        return false;
    }

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

        if (_options.DeliverLines is { } deliverLines)
        {
            var recipients = message.Envelope.Recipients.Select(r => r.Address).ToArray();
            return await deliverLines(message.Envelope.SenderAddress, recipients, await ReadLinesAsync(message, cancellationToken), _context, cancellationToken);
        }

        // With no delivery callback the server is a sink, like Postfix's smtp-sink.
        return SmtpVerdict.Accept;
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
        _content ??= NewContentBuffer();
        _content.Reset();
        _content.MaxLength = _options.MaxMessageSize;
    }

    private MessageBuffer NewContentBuffer() => new(_options.MessageMemoryThreshold, _options.MaxMessageSize, _options.SpoolDirectory);

    private void ResetTransaction()
    {
        _sender = null;
        _recipients.Clear();
        _body = SmtpBodyType.SevenBit;
        _smtpUtf8 = false;
        _declaredSize = null;
        _content?.Reset();
        if (_state is SessionState.MailGiven or SessionState.RecipientGiven or SessionState.BdatInProgress)
        {
            _state = SessionState.Ready;
        }
    }

    /// <summary>Calls a callback, turning <see cref="SmtpRejectedException"/> into a rejection and any other failure into <see langword="null"/> (451).</summary>
    private async ValueTask<SmtpVerdict?> InvokeAsync<TState>(Func<TState, CancellationToken, ValueTask<SmtpVerdict>> callback, TState state, string name)
    {
        try
        {
            var verdict = await callback(state, _aborted.Token);
            if (verdict is { IsAccepted: false })
            {
                Log.CallbackRejected(_logger, name, verdict.Reason);
            }

            return verdict;
        }
        catch (SmtpRejectedException ex)
        {
            Log.CallbackRejected(_logger, name, ex.Message);
            return ex.ToVerdict();
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && _aborted.IsCancellationRequested))
        {
            Log.CallbackFailed(_logger, name, ex);
            return null;
        }
    }

    /// <summary>The reply for a verdict that is not an acceptance: 451 for a failed callback, else the verdict's reply or the standard one.</summary>
    private static SmtpReply? Rejection(SmtpVerdict? verdict, SmtpReply standard) => verdict switch
    {
        null => SmtpReplies.LocalError,
        { IsAccepted: true } => null,
        _ => verdict.Reply ?? standard,
    };

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

    private void Reply(SmtpReply reply)
    {
        var bytes = reply.GetBytes(_enhancedStatusCodes);
        _output.Write(bytes);
        _hasUnflushedReplies = true;
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.ReplySent(_logger, Encoding.UTF8.GetString(bytes).TrimEnd());
        }
    }

    /// <summary>Writes the buffered replies; a client that does not read them is cut off by the command timeout.</summary>
    /// <returns><see langword="false"/> when the connection is gone or was interrupted.</returns>
    private async ValueTask<bool> FlushAsync()
    {
        if (!_hasUnflushedReplies)
        {
            return true;
        }

        _hasUnflushedReplies = false;
        _timeout.CancelAfter(_options.CommandTimeout);
        var result = await _output.FlushAsync();
        _timeout.CancelAfter(Timeout.Infinite);
        return !result.IsCanceled && !result.IsCompleted;
    }

    /// <summary>Sends the 421 for a timeout or shutdown, giving a client that does not read a few seconds at most.</summary>
    private async Task CloseWithReplyAsync()
    {
        var reply = _closeReason == CloseReason.Timeout ? SmtpReplies.Timeout : SmtpReplies.ShuttingDown;
        Log.SessionClosed(_logger, _closeReason == CloseReason.Timeout ? "timeout" : "server shutting down");
        try
        {
            using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _stream.WriteAsync(reply.GetBytes(_enhancedStatusCodes).ToArray(), bounded.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            Log.ConnectionLost(_logger, ex);
        }
    }

    /// <summary>Replaces control characters so that callback text cannot forge reply lines.</summary>
    private static string Printable(string text) => string.Create(text.Length, text, static (span, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            span[i] = char.IsControl(source[i]) ? ' ' : source[i];
        }
    });

    /// <summary>The logging scope of a session: one property, <c>SessionId</c>.</summary>
    private sealed class SessionScope(string sessionId) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => 1;

        public KeyValuePair<string, object?> this[int index] =>
            index == 0 ? new("SessionId", sessionId) : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return this[0];
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"SessionId:{sessionId}";
    }
}
