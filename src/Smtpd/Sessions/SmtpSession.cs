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
    SlowData,

    /// <summary>The server is draining and this session has no transaction open.</summary>
    Draining,
}

/// <summary>
/// One SMTP connection: the read loop that feeds the I/O-free parsers, the state machine that the
/// <see cref="SmtpStateTable"/> drives, and the callbacks. Reading follows the System.IO.Pipelines pattern:
/// <c>ReadAsync</c>, parse, <c>AdvanceTo(consumed, examined)</c> in a <c>finally</c>, and only then
/// <c>IsCompleted</c>. Replies are written without flushing and flushed once the input is drained, which
/// groups the replies to a PIPELINING batch (RFC 2920 3.2) into one write.
/// </summary>
internal sealed partial class SmtpSession : IAsyncDisposable, IThreadPoolWorkItem
{
    private static long s_nextId;

    private static readonly StreamPipeReaderOptions ReaderOptions =
        // Zero-byte reads let an idle session wait without holding a buffer (as Kestrel's socket transport does).
        new(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024, leaveOpen: true, useZeroByteReads: true);

    private static readonly StreamPipeWriterOptions WriterOptions = new(minimumBufferSize: 4 * 1024, leaveOpen: true);

    private readonly Socket _socket;
    private readonly NetworkStream _network;
    private readonly bool _implicitTls;
    private readonly bool _proxyProtocol;
    private readonly Func<IPAddress, int, bool>? _admitClient;

    // LMTP (RFC 2033) instead of SMTP: fixed for the session's life by its listener.
    private readonly bool _lmtp;
    private readonly SmtpServerOptions _options;
    private readonly ILogger _logger;
    private readonly SmtpSessionContext _context;
    private readonly Action<SmtpSession>? _onEnded;

    // Created on first use: an idle session that never runs a callback never pays for it.
    private CancellationTokenSource? _aborted;

    // Whether a callback is waiting, and whether the heartbeat has started watching the socket for it.
    private const int NoCallbackWaiting = 0;
    private const int CallbackWaiting = 1;
    private const int CallbackWatchStarting = 2;
    private const int CallbackWatched = 3;
    private int _callbackWatch;
    private CancellationTokenSource? _disconnectWatch;
    private int _abortRequested;
    private int _draining;

    // When the pending read or flush times out (Environment.TickCount64), or 0. The server's heartbeat checks it,
    // so no session owns a timer (Kestrel's heartbeat does the same).
    private long _deadline;
    private readonly List<SmtpMailbox> _recipients = [];

    // The parser's reusable commands and recent mailboxes: MAIL, RCPT and BDAT allocate nothing once warm.
    private CommandCache? _commandCache;

    // The transport: the socket's stream, or the TLS stream over it once STARTTLS or implicit TLS succeeded.
    private Stream _transport;
    private PipeReader _input;
    private PipeWriter _output;

    private SessionState _state = SessionState.Initial;
    private InputMode _mode = InputMode.Command;
    private CloseReason _closeReason;
    private bool _enhancedStatusCodes;
    private int _errors;
    private int _junkCommands;

    // Command lines have one deadline for the whole line (slowloris); 0 when no line is in progress.
    private long _commandDeadline;

    // When the content of the open transaction began, for MinimumDataRate.
    private long _contentStartedAt;
    private bool _hasUnflushedReplies;
    private bool _closeAfterReply;

    // A flush or the final 421 could not be completed: the client is not reading, so the connection is reset.
    private bool _writeCutShort;
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

    /// <param name="socket">The accepted connection.</param>
    /// <param name="options">The options snapshot the session runs with.</param>
    /// <param name="logger">Where the session logs.</param>
    /// <param name="listener">The listener that accepted it: implicit TLS, PROXY protocol.</param>
    /// <param name="onEnded">Called once when the session has ended and released its connection.</param>
    /// <param name="admitClient">
    /// For a PROXY protocol listener, asked once the header names the real client: counts it against the limit
    /// (<see cref="SmtpServerOptions.MaxSessionsPerClient"/>) and says whether it may have this session.
    /// </param>
    public SmtpSession(Socket socket, SmtpServerOptions options, ILogger logger, SmtpListener listener, Action<SmtpSession>? onEnded = null, Func<IPAddress, int, bool>? admitClient = null)
    {
        _onEnded = onEnded;
        _admitClient = admitClient;
        _socket = socket;
        _options = options;
        _logger = logger;
        _implicitTls = listener.ImplicitTls;
        _proxyProtocol = listener.ProxyProtocol;
        _lmtp = listener.Protocol == SmtpListenerProtocol.Lmtp;
        _network = new NetworkStream(socket, ownsSocket: true);
        _transport = _network;
        (_input, _output) = CreatePipes(_network);
        _context = new SmtpSessionContext(
            Interlocked.Increment(ref s_nextId).ToString("x8", System.Globalization.CultureInfo.InvariantCulture),
            Unmapped((IPEndPoint)socket.RemoteEndPoint!),
            Unmapped((IPEndPoint)socket.LocalEndPoint!))
        {
            IsLmtp = _lmtp,
        };
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

    public SmtpSessionContext Context => _context;

    /// <summary>
    /// An IPv4 client of a dual-mode listener arrives as <c>::ffff:a.b.c.d</c>; callbacks see it as the IPv4 address
    /// it is, so that rules written for IPv4 (Tcl's <c>192.168.1.*</c>) cannot be bypassed.
    /// </summary>
    private static IPEndPoint Unmapped(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;

    private static (PipeReader Input, PipeWriter Output) CreatePipes(Stream transport) =>
        (PipeReader.Create(transport, ReaderOptions), PipeWriter.Create(transport, WriterOptions));

    /// <summary>Starts the session on the thread pool without allocating a work item.</summary>
    void IThreadPoolWorkItem.Execute() => _ = RunAsync();

    /// <summary>
    /// The client address this session is counted under for <see cref="SmtpServerOptions.MaxSessionsPerClient"/>, or
    /// <see langword="null"/> while it is not counted (a PROXY protocol session before its header). The server
    /// releases this key when the session ends.
    /// </summary>
    public IPAddress? CountedClient { get; set; }

    /// <summary>Runs the session to its end. Never throws.</summary>
    public async Task RunAsync()
    {
        using var scope = _logger.BeginScope(new SessionScope(_context.Id));
        if (!_proxyProtocol)
        {
            // A proxied session logs its start once the header has named the client.
            Log.SessionStarted(_logger, _context.RemoteEndPoint);
        }

        try
        {
            // The PROXY protocol header comes first on the wire, before the TLS handshake and the greeting.
            if ((!_proxyProtocol || await ReadProxyHeaderAsync()) && (!_implicitTls || await UpgradeToTlsAsync()) && await GreetAsync())
            {
                await ProcessInputAsync();
            }
        }
        catch (DisconnectRequestedException ex)
        {
            Log.SessionClosed(_logger, ex.Message);
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

    /// <summary>
    /// The server is draining (<see cref="SmtpServer.StopAsync(TimeSpan, CancellationToken)"/>): a session with no
    /// transaction open gets <c>421</c> and is closed now; one in a transaction finishes it (its callbacks are not
    /// cancelled) and gets <c>421</c> as soon as the transaction is over, so no client starts a new one on a server
    /// that is going away (RFC 5321 3.8).
    /// </summary>
    public void BeginDrain()
    {
        Volatile.Write(ref _draining, 1);
        if (!IsInTransaction)
        {
            Interrupt(CloseReason.Draining);
        }
    }

    private bool IsDraining => Volatile.Read(ref _draining) != 0;

    private bool IsInTransaction => _state is SessionState.MailGiven or SessionState.RecipientGiven or SessionState.BdatInProgress;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        DisarmTimeout();
        Volatile.Write(ref _abortRequested, 1);
        if (Volatile.Read(ref _aborted) is { } aborted)
        {
            await aborted.CancelAsync();
        }

        _content?.Dispose();
        if (_hasUnflushedReplies || _writeCutShort)
        {
            // Replies are still queued for a client that is not reading them (a timeout or a shutdown cut a flush
            // short): completing the writer would wait for that client forever. Reset the connection instead, so
            // the pending write fails at once and the session's slot is freed.
            try
            {
                _socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }

            _socket.Dispose();
        }
        else
        {
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }

        await CompleteQuietlyAsync(_input.CompleteAsync());
        await CompleteQuietlyAsync(_output.CompleteAsync());
        if (_transport != _network)
        {
            await CompleteQuietlyAsync(_transport.DisposeAsync());
        }

        await _network.DisposeAsync();
        _aborted?.Dispose();
        _onEnded?.Invoke(this);
    }

    private static async ValueTask CompleteQuietlyAsync(ValueTask completion)
    {
        try
        {
            await completion;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The connection is already gone: there is nothing left to flush to.
        }
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
            if (reason != CloseReason.Draining)
            {
                // A drain never cuts a flush short: it may be carrying the 250 for a message just delivered.
                _output.CancelPendingFlush();
            }

            if (reason == CloseReason.Shutdown)
            {
                Volatile.Write(ref _abortRequested, 1);
                Volatile.Read(ref _aborted)?.Cancel();
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
        {
            // The session ended, or swapped its pipes for TLS, while it was being interrupted: nothing is left to wake.
        }
    }

    /// <summary>Sends the greeting, after the host validation callback if there is one.</summary>
    /// <returns><see langword="false"/> when the session must end.</returns>
    private async ValueTask<bool> GreetAsync()
    {
        var greeting = _options.Greeting;
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
        return await FlushAsync() && !_closeAfterReply;
    }

    private async Task ProcessInputAsync()
    {
        while (true)
        {
            ArmTimeout(NextReadTimeout());
            var result = await _input.ReadAsync();
            DisarmTimeout();
            if (result.IsCanceled || _closeReason != CloseReason.None)
            {
                await CloseWithReplyAsync();
                return;
            }

            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var close = false;
            var completedLine = false;
            try
            {
                while (!close && !_startTlsAccepted)
                {
                    var step = ReadNext(ref buffer, out var command);
                    consumed = buffer.Start;
                    if (step == Step.NeedMoreData)
                    {
                        break;
                    }

                    completedLine |= step is Step.Command or Step.LineTooLong or Step.SaslResponse;
                    close = step switch
                    {
                        Step.Command => await ExecuteAsync(command!),
                        Step.LineTooLong => CountError(SmtpReplies.LineTooLong),
                        Step.DataComplete => await CompleteDataAsync(),
                        Step.ChunkComplete => await CompleteChunkAsync(),
                        Step.SaslResponse => await ContinueAuthenticationAsync(),
                        _ => false,
                    };
                    close |= _closeAfterReply;
                }

                if (_startTlsAccepted && !buffer.IsEmpty)
                {
                    // RFC 3207 4.2 and CVE-2011-0411: plaintext that came after STARTTLS is never executed.
                    Log.PlaintextAfterStartTlsDiscarded(_logger, buffer.Length);
                    consumed = buffer.End;
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

            // A command line still in progress keeps its deadline; once a line is complete the next one starts afresh.
            if (completedLine || _mode is InputMode.Data or InputMode.Chunk)
            {
                _commandDeadline = 0;
            }

            if (!close && _mode is InputMode.Data or InputMode.Chunk && DataRateTooLow())
            {
                _closeReason = CloseReason.SlowData;
            }

            if (close || _closeReason != CloseReason.None)
            {
                if (_closeReason != CloseReason.None)
                {
                    await CloseWithReplyAsync();
                }

                return;
            }

            if (_startTlsAccepted)
            {
                _startTlsAccepted = false;
                if (!await UpgradeToTlsAsync())
                {
                    return;
                }

                continue;
            }

            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>
    /// How long the next read may wait: the data timeout for content; for commands, what is left of the deadline
    /// of the line in progress (RFC 5321 4.5.3.2.7), which trickled octets do not extend.
    /// </summary>
    private TimeSpan NextReadTimeout()
    {
        if (_mode is InputMode.Data or InputMode.Chunk)
        {
            return _options.DataTimeout;
        }

        var now = Environment.TickCount64;
        if (_commandDeadline == 0)
        {
            _commandDeadline = now + (long)_options.CommandTimeout.TotalMilliseconds;
        }

        return TimeSpan.FromMilliseconds(Math.Max(1, _commandDeadline - now));
    }

    /// <summary>Whether content is arriving slower than <see cref="SmtpServerOptions.MinimumDataRate"/> after the grace period.</summary>
    private bool DataRateTooLow()
    {
        if (_options.MinimumDataRate <= 0 || _content is null)
        {
            return false;
        }

        var elapsed = TimeSpan.FromMilliseconds(Environment.TickCount64 - _contentStartedAt) - _options.MinimumDataRateGracePeriod;
        return elapsed > TimeSpan.Zero && _content.ReceivedLength < elapsed.TotalSeconds * _options.MinimumDataRate;
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
            return CommandParser.Parse(line.FirstSpan, _smtpUtf8, _options.EnableDsn, _commandCache ??= new CommandCache(), _lmtp);
        }

        // A line split across buffer segments is copied once; it is at most MaxCommandLineLength octets.
        var length = (int)line.Length;
        var rented = length <= 1024 ? null : ArrayPool<byte>.Shared.Rent(length);
        try
        {
            Span<byte> copy = rented ?? stackalloc byte[1024];
            line.CopyTo(copy);
            return CommandParser.Parse(copy[..length], _smtpUtf8, _options.EnableDsn, _commandCache ??= new CommandCache(), _lmtp);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Calls a callback, turning <see cref="SmtpRejectedException"/> into a rejection and any other failure into <see langword="null"/> (451).</summary>
    private async ValueTask<SmtpVerdict?> InvokeAsync<TState>(Func<TState, CancellationToken, ValueTask<SmtpVerdict>> callback, TState state, string name)
    {
        try
        {
            var pending = callback(state, AbortToken);
            SmtpVerdict verdict;
            if (pending.IsCompleted)
            {
                verdict = pending.Result;
            }
            else
            {
                // A callback that waits is told if the client goes away meanwhile, as the delegates promise: the
                // heartbeat starts watching the socket once it finds the callback still running (CheckTimeout).
                // Watching every wait from its start cost a socket operation and a caught cancellation per message,
                // a tenth of the server's CPU under a store that commits in milliseconds.
                Volatile.Write(ref _callbackWatch, CallbackWaiting);
                try
                {
                    verdict = await pending;
                }
                finally
                {
                    if (Interlocked.Exchange(ref _callbackWatch, NoCallbackWaiting) == CallbackWatched)
                    {
                        await _disconnectWatch!.CancelAsync();
                    }
                }
            }

            if (verdict is { IsDisconnect: true })
            {
                throw new DisconnectRequestedException(name);
            }

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
        catch (Exception ex) when (ex is not DisconnectRequestedException && !(ex is OperationCanceledException && Volatile.Read(ref _abortRequested) != 0))
        {
            Log.CallbackFailed(_logger, name, ex);
            return null;
        }
    }

    /// <summary>
    /// Waits, without consuming anything, until the socket has data or reaches its end; at the end the client has
    /// gone, and the callbacks' token is cancelled.
    /// </summary>
    private async Task WatchForDisconnectAsync(CancellationToken cancellationToken)
    {
        var probe = new byte[1];
        try
        {
            if (await _socket.ReceiveAsync(probe, SocketFlags.Peek, cancellationToken) == 0)
            {
                AbortCallbacks();
            }
        }
        catch (OperationCanceledException)
        {
            // The callback finished first.
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            AbortCallbacks();
        }
    }

    /// <summary>The token every callback gets: cancelled on shutdown or when the client goes away.</summary>
    private CancellationToken AbortToken
    {
        get
        {
            if (Volatile.Read(ref _aborted) is { } existing)
            {
                return existing.Token;
            }

            var created = new CancellationTokenSource();
            var aborted = Interlocked.CompareExchange(ref _aborted, created, null) ?? created;
            if (aborted != created)
            {
                created.Dispose();
            }
            else if (Volatile.Read(ref _abortRequested) != 0)
            {
                aborted.Cancel();
            }

            return aborted.Token;
        }
    }

    private void AbortCallbacks()
    {
        Volatile.Write(ref _abortRequested, 1);
        try
        {
            Volatile.Read(ref _aborted)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Called by the server's heartbeat: interrupts the pending read or flush once its deadline has passed, and
    /// starts watching for the client's departure while a callback waits.
    /// </summary>
    public void CheckTimeout(long now)
    {
        var deadline = Volatile.Read(ref _deadline);
        if (deadline != 0 && now >= deadline)
        {
            Volatile.Write(ref _deadline, 0);
            Interrupt(CloseReason.Timeout);
        }

        if (Volatile.Read(ref _callbackWatch) == CallbackWaiting)
        {
            WatchWaitingCallback();
        }
    }

    /// <summary>
    /// A callback has been waiting since before this heartbeat tick: a peek on the socket now tells it if the client
    /// goes away. The callback's end cancels the peek (InvokeAsync), so no watch outlives its callback.
    /// </summary>
    private void WatchWaitingCallback()
    {
        // Only the tick that moves the state on creates a watch, even if two ticks overlap.
        if (Interlocked.CompareExchange(ref _callbackWatch, CallbackWatchStarting, CallbackWaiting) != CallbackWaiting)
        {
            return;
        }

        // The previous watch, if any, was cancelled when its callback ended.
        _disconnectWatch?.Dispose();
        var watch = new CancellationTokenSource();
        _disconnectWatch = watch;
        if (Interlocked.CompareExchange(ref _callbackWatch, CallbackWatched, CallbackWatchStarting) != CallbackWatchStarting)
        {
            // The callback ended meanwhile: nothing is left to watch.
            return;
        }

        _ = WatchForDisconnectAsync(watch.Token);
    }

    private void ArmTimeout(TimeSpan timeout) => Volatile.Write(ref _deadline, Environment.TickCount64 + (long)timeout.TotalMilliseconds);

    private void DisarmTimeout() => Volatile.Write(ref _deadline, 0);

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

    private void Reply(SmtpReply reply)
    {
        // RFC 5321 3.8 and 4.2.2: 421 means the server closes the channel, whoever chose the reply.
        _closeAfterReply |= reply.Code == 421;
        var bytes = reply.GetBytes(_enhancedStatusCodes);
        _output.Write(bytes);
        _hasUnflushedReplies = true;
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.ReplySent(_logger, Encoding.UTF8.GetString(bytes).TrimEnd());
        }
    }

    /// <summary>
    /// <c>250 2.0.0 N octets received</c> after a BDAT chunk that is not the last (RFC 3030 2). The count differs
    /// every time, so instead of an <see cref="SmtpReply"/> (two strings and an array) it is formatted straight into
    /// the output.
    /// </summary>
    private void ReplyChunkReceived(long received)
    {
        var span = _output.GetSpan(64);
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

        _output.Advance(length);
        _hasUnflushedReplies = true;
    }

    /// <summary>Writes text (already checked to hold no CR or LF) straight into the output as UTF-8.</summary>
    private void WriteText(string text)
    {
        var span = _output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        _output.Advance(Encoding.UTF8.GetBytes(text, span));
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
        ArmTimeout(_options.CommandTimeout);
        var result = await _output.FlushAsync();
        DisarmTimeout();
        _writeCutShort |= result.IsCanceled;
        return !result.IsCanceled && !result.IsCompleted;
    }

    /// <summary>Sends the 421 for a timeout or shutdown, giving a client that does not read a few seconds at most.</summary>
    private async Task CloseWithReplyAsync()
    {
        var (reply, reason) = _closeReason switch
        {
            CloseReason.Timeout => (SmtpReplies.Timeout, "timeout"),
            CloseReason.SlowData => (SmtpReplies.DataRateTooLow, "data rate below MinimumDataRate"),
            CloseReason.Draining => (SmtpReplies.ShuttingDown, "server draining"),
            _ => (SmtpReplies.ShuttingDown, "server shutting down"),
        };
        Log.SessionClosed(_logger, reason);
        try
        {
            using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _transport.WriteAsync(reply.GetBytes(_enhancedStatusCodes).ToArray(), bounded.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            _writeCutShort = true;
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

    /// <summary>A callback answered <see cref="SmtpVerdict.Disconnect"/>: the session ends without a reply.</summary>
    private sealed class DisconnectRequestedException(string callback) : Exception($"the {callback} callback asked to drop the connection");

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
