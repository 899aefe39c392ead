using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Smtpd.Logging;

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
/// The transport of one SMTP session: the socket, TLS, the PROXY protocol header, reads, writes and timeouts. It
/// drives an I/O-free <see cref="SmtpProtocol"/>, as Kestrel's connection drives <c>HttpProtocol</c>. Reading follows
/// the System.IO.Pipelines pattern: <c>ReadAsync</c>, parse, <c>AdvanceTo(consumed, examined)</c> in a
/// <c>finally</c>, and only then <c>IsCompleted</c>. Replies are written without flushing and flushed once the input
/// is drained, which groups the replies to a PIPELINING batch (RFC 2920 3.2) into one write.
/// </summary>
internal sealed partial class SmtpConnection : IAsyncDisposable, IThreadPoolWorkItem, IClientDepartureProbe
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
    private readonly SmtpServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SmtpSessionContext _context;
    private readonly SmtpCallbackInvoker _callbacks;
    private readonly SmtpProtocol _protocol;
    private readonly Action<SmtpConnection>? _onEnded;

    // When the pending read or flush times out (TimeProvider timestamp), or 0. The server's heartbeat checks it,
    // so no session owns a timer (Kestrel's heartbeat does the same).
    private long _deadline;

    // The deadline of the next command line (RFC 5321 4.5.3.2.7): fixed when the replies to the previous line are
    // written, before the client can see them, and not extended by octets that trickle in.
    private long _commandDeadline;

    // The deadline of the next read: the command line's, or the data timeout from the last batch for content.
    private long _readDeadline;

    // The handshake timeout after STARTTLS, started before the 220 goes out (see ProcessInputAsync).
    private CancellationTokenSource? _handshakeTimeout;

    // The transport: the socket's stream, or the TLS stream over it once STARTTLS or implicit TLS succeeded.
    private Stream _transport;
    private PipeReader _input;
    private PipeWriter _output;
    private CloseReason _closeReason;

    // A flush or the final 421 could not be completed: the client is not reading, so the connection is reset.
    private bool _writeCutShort;
    private int _disposed;

    /// <param name="socket">The accepted connection.</param>
    /// <param name="options">The options snapshot the session runs with.</param>
    /// <param name="logger">Where the session logs.</param>
    /// <param name="time">Where every timeout and deadline reads the time.</param>
    /// <param name="listener">The listener that accepted it: implicit TLS, PROXY protocol, LMTP.</param>
    /// <param name="onEnded">Called once when the session has ended and released its connection.</param>
    /// <param name="admitClient">
    /// For a PROXY protocol listener, asked once the header names the real client: counts it against the limit
    /// (<see cref="SmtpServerOptions.MaxSessionsPerClient"/>) and says whether it may have this session.
    /// </param>
    /// <param name="metrics">The listener's instruments, or <see langword="null"/> to count nothing.</param>
    public SmtpConnection(Socket socket, SmtpServerOptions options, ILogger logger, TimeProvider time, SmtpListener listener, Action<SmtpConnection>? onEnded = null, Func<IPAddress, int, bool>? admitClient = null, SmtpServerMetrics.Listener? metrics = null)
    {
        _onEnded = onEnded;
        _admitClient = admitClient;
        _socket = socket;
        _options = options;
        _logger = logger;
        _time = time;
        _implicitTls = listener.ImplicitTls;
        _proxyProtocol = listener.ProxyProtocol;
        _network = new NetworkStream(socket, ownsSocket: true);
        _transport = _network;
        (_input, _output) = CreatePipes(_network);
        var lmtp = listener.Protocol == SmtpListenerProtocol.Lmtp;
        _context = new SmtpSessionContext(
            Interlocked.Increment(ref s_nextId).ToString("x8", System.Globalization.CultureInfo.InvariantCulture),
            Unmapped((IPEndPoint)socket.RemoteEndPoint!),
            Unmapped((IPEndPoint)socket.LocalEndPoint!))
        {
            IsLmtp = lmtp,
        };
        _callbacks = new SmtpCallbackInvoker(logger) { DisconnectProbe = this };
        _protocol = new SmtpProtocol(options, logger, _context, lmtp, time, _callbacks, _output, metrics);
    }

    public SmtpSessionContext Context => _context;

    /// <summary>
    /// The client address this session is counted under for <see cref="SmtpServerOptions.MaxSessionsPerClient"/>, or
    /// <see langword="null"/> while it is not counted (a PROXY protocol session before its header). The server
    /// releases this key when the session ends.
    /// </summary>
    public IPAddress? CountedClient { get; set; }

    private long Now => _time.GetTimestamp();

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
        catch (SmtpDisconnectRequestedException ex)
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
        _protocol.BeginDrain();
        if (!_protocol.IsInTransaction)
        {
            Interrupt(CloseReason.Draining);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Volatile.Write(ref _deadline, 0);
        await _callbacks.AbortAsync();
        _protocol.Dispose();
        if (_protocol.HasPendingReplies || _writeCutShort)
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
        _handshakeTimeout?.Dispose();
        _callbacks.Dispose();
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
                _callbacks.Abort();
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
        await _protocol.GreetAsync();
        _readDeadline = _commandDeadline = Deadline(_options.CommandTimeout);
        return await FlushAsync() && !_protocol.CloseRequested;
    }

    private async Task ProcessInputAsync()
    {
        while (true)
        {
            ArmDeadline(_readDeadline);
            var result = await _input.ReadAsync();
            Volatile.Write(ref _deadline, 0);
            if (result.IsCanceled || _closeReason != CloseReason.None)
            {
                await CloseWithReplyAsync();
                return;
            }

            var consumed = result.Buffer.Start;
            bool close;
            try
            {
                var processed = await MessageDelivery.ProcessAsync(_protocol, result.Buffer, _options, _callbacks);
                consumed = processed.Consumed;
                close = processed.Close;

                // The next read's deadline is fixed before the replies go out, so that a client that has read them
                // can count on it (and a test on a fake clock can advance past it without racing the session).
                if (processed.Progressed)
                {
                    _commandDeadline = Deadline(_options.CommandTimeout);
                }

                _readDeadline = _protocol.IsReadingContent ? Deadline(_options.DataTimeout) : _commandDeadline;
                if (_protocol.StartTlsRequested)
                {
                    // The handshake's clock starts before the 220 that invites it, as the read deadlines do.
                    _handshakeTimeout = new CancellationTokenSource(_options.TlsHandshakeTimeout, _time);
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

            if (_protocol.DrainCloseDue)
            {
                _closeReason = CloseReason.Draining;
            }
            else if (!close && _protocol.DataRateTooLow())
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

            if (_protocol.StartTlsRequested)
            {
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

    /// <summary>Waits, without consuming anything, until the socket has data or reaches its end.</summary>
    /// <returns><see langword="true"/> when the client has gone.</returns>
    public async ValueTask<bool> ClientLeftAsync(CancellationToken cancellationToken)
    {
        var probe = new byte[1];
        try
        {
            return await _socket.ReceiveAsync(probe, SocketFlags.Peek, cancellationToken) == 0;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return true;
        }
    }

    /// <summary>
    /// Called by the server's heartbeat: interrupts the pending read or flush once its deadline has passed, and
    /// starts watching for the client's departure while a callback waits.
    /// </summary>
    /// <param name="now">The heartbeat's <see cref="TimeProvider.GetTimestamp"/>.</param>
    public void CheckTimeout(long now)
    {
        var deadline = Volatile.Read(ref _deadline);
        if (deadline != 0 && now >= deadline)
        {
            Volatile.Write(ref _deadline, 0);
            Interrupt(CloseReason.Timeout);
        }

        _callbacks.WatchIfWaiting();
    }

    /// <summary>The timestamp <paramref name="timeout"/> from now.</summary>
    private long Deadline(TimeSpan timeout) => Now + (long)(timeout.TotalSeconds * _time.TimestampFrequency);

    /// <summary>Arms the heartbeat for the pending read or flush; a deadline already past interrupts at once.</summary>
    private void ArmDeadline(long deadline)
    {
        Volatile.Write(ref _deadline, deadline);
        if (Now >= deadline)
        {
            Volatile.Write(ref _deadline, 0);
            Interrupt(CloseReason.Timeout);
        }
    }

    /// <summary>Writes the buffered replies; a client that does not read them is cut off by the command timeout.</summary>
    /// <returns><see langword="false"/> when the connection is gone or was interrupted.</returns>
    private async ValueTask<bool> FlushAsync()
    {
        if (!_protocol.HasPendingReplies)
        {
            return true;
        }

        _protocol.RepliesSent();
        ArmDeadline(Deadline(_options.CommandTimeout));
        var result = await _output.FlushAsync();
        Volatile.Write(ref _deadline, 0);
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
            using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(5), _time);
            await _transport.WriteAsync(reply.GetBytes(_protocol.EnhancedStatusCodes).ToArray(), bounded.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            _writeCutShort = true;
            Log.ConnectionLost(_logger, ex);
        }
    }

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
