using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Smtpd.Logging;
using Smtpd.Sessions;

namespace Smtpd;

/// <summary>
/// An embeddable SMTP server (RFC 5321 with PIPELINING, SIZE, 8BITMIME, SMTPUTF8, CHUNKING and
/// ENHANCEDSTATUSCODES). It hands every message to the callbacks in <see cref="Options"/>, the way Tcl's
/// smtpd package does, and any number of servers can run in one process.
/// </summary>
/// <example>
/// <code>
/// var options = new SmtpServerOptions
/// {
///     Deliver = async (message, ct) =&gt;
///     {
///         Console.WriteLine($"{message.Envelope.SenderAddress} -&gt; {string.Join(", ", message.Envelope.Recipients)}");
///         return SmtpVerdict.Accept;
///     },
/// };
/// await using var server = new SmtpServer(options);
/// server.Start(IPAddress.Loopback, 2525);
/// await server.Stopped;
/// </code>
/// </example>
public sealed class SmtpServer : IAsyncDisposable
{
    /// <summary>The standard SMTP port, used when no port is given (as Tcl smtpd does).</summary>
    public const int DefaultPort = 25;

    /// <summary>
    /// The name of the <see cref="System.Diagnostics.Metrics.Meter"/> every server creates for its own instruments
    /// (docs/api.md lists them): add it to an OpenTelemetry <c>MeterProvider</c>, or listen with a
    /// <see cref="System.Diagnostics.Metrics.MeterListener"/>. Each server has its own meter of this name, disposed
    /// with the server.
    /// </summary>
    public const string MeterName = "Smtpd";

    private const int ListenBacklog = 512;

    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<SmtpConnection, byte> _sessions = new();
    private readonly Action<SmtpConnection> _onSessionEnded;
    private readonly Func<IPAddress, int, bool> _admitClient;
    private SmtpServerOptions? _snapshot;
    private int _snapshotVersion;
    private TaskCompletionSource? _allEnded;
    private readonly TimeProvider _time;
    private ITimer? _heartbeat;
    private TimeSpan _heartbeatPeriod;
    private readonly ConcurrentDictionary<IPAddress, int> _sessionsPerClient = new();
    private List<(Socket Socket, SmtpListener Listener)> _listeners = [];
    private IReadOnlyList<SmtpListener> _bound = [];
    private IReadOnlyList<IPEndPoint> _endpoints = [];
    private CancellationTokenSource? _accepting;
    private TaskCompletionSource _stopped = NewStoppedSource();
    private int _sessionCount;
    private readonly SmtpServerMetrics _metrics;

    /// <summary>Creates a server that is not yet listening.</summary>
    /// <param name="options">The options; <see langword="null"/> for the defaults. The server keeps this instance: changes to it apply to sessions that start afterwards.</param>
    /// <param name="loggerFactory">Where logs go; <see langword="null"/> for none.</param>
    public SmtpServer(SmtpServerOptions? options = null, ILoggerFactory? loggerFactory = null)
        : this(options, loggerFactory, TimeProvider.System)
    {
    }

    /// <summary>Creates a server whose timeouts and deadlines read <paramref name="time"/>: tests pass a fake clock.</summary>
    internal SmtpServer(SmtpServerOptions? options, ILoggerFactory? loggerFactory, TimeProvider time)
    {
        _time = time;
        Options = options ?? new SmtpServerOptions();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Smtpd.SmtpServer");
        _onSessionEnded = OnSessionEnded;
        _admitClient = TryAdmitClient;
        _metrics = new SmtpServerMetrics(() => SessionCount);
    }

    /// <summary>This server's meter (<see cref="MeterName"/>), which a collector can tell from other servers' meters.</summary>
    internal System.Diagnostics.Metrics.Meter Meter => _metrics.Meter;

    /// <summary>The live options (Tcl <c>configure</c>/<c>cget</c>). Each new session takes a copy when it starts.</summary>
    public SmtpServerOptions Options { get; }

    /// <summary>The endpoints the server listens on, with the real ports when port 0 was asked for. Empty when stopped.</summary>
    public IReadOnlyList<IPEndPoint> Endpoints => _endpoints;

    /// <summary>The listeners, with the real ports, whether each speaks implicit TLS, and its protocol (SMTP or LMTP). Empty when stopped.</summary>
    public IReadOnlyList<SmtpListener> Listeners => _bound;

    /// <summary>Whether the server is listening.</summary>
    public bool IsRunning => _accepting is not null;

    /// <summary>How many sessions are open.</summary>
    public int SessionCount => Volatile.Read(ref _sessionCount);

    /// <summary>
    /// Completes when the server stops (the <c>::smtpd::stopped</c> variable Tcl programs <c>vwait</c> on).
    /// Each start gets a new task.
    /// </summary>
    public Task Stopped => _stopped.Task;

    /// <summary>Listens on every interface on port 25, as <c>::smtpd::start</c> with no arguments does.</summary>
    /// <exception cref="InvalidOperationException">The server is already running.</exception>
    /// <exception cref="SocketException">The port cannot be bound.</exception>
    public void Start() => Start(DefaultPort);

    /// <summary>Listens on every interface (IPv6 and IPv4) on <paramref name="port"/>.</summary>
    /// <param name="port">The port; 0 picks a free one (see <see cref="Endpoints"/>).</param>
    /// <exception cref="InvalidOperationException">The server is already running.</exception>
    /// <exception cref="SocketException">The port cannot be bound.</exception>
    public void Start(int port) =>
        Start(new IPEndPoint(Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any, port));

    /// <summary>Listens on one address (<c>::smtpd::start myaddr port</c>).</summary>
    /// <param name="address">The local address to bind.</param>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <exception cref="InvalidOperationException">The server is already running.</exception>
    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public void Start(IPAddress address, int port = DefaultPort) => Start(new IPEndPoint(address, port));

    /// <summary>Listens on every address a host name resolves to, as Tcl smtpd accepts a domain-style <c>myaddr</c>.</summary>
    /// <param name="host">A host name or an address in text form.</param>
    /// <param name="port">The port; 0 picks a free one for each address.</param>
    /// <exception cref="InvalidOperationException">The server is already running.</exception>
    /// <exception cref="SocketException">The name cannot be resolved or an address cannot be bound.</exception>
    public void Start(string host, int port = DefaultPort)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : Dns.GetHostAddresses(host).Distinct().ToArray();
        Start(addresses.Select(a => new IPEndPoint(a, port)).ToArray());
    }

    /// <summary>Listens on several endpoints at once (IPv4 and IPv6, several ports).</summary>
    /// <param name="endpoints">The endpoints; port 0 picks a free port.</param>
    /// <exception cref="ArgumentException">No endpoint was given.</exception>
    /// <exception cref="InvalidOperationException">The server is already running.</exception>
    /// <exception cref="SocketException">An endpoint cannot be bound; none is left bound.</exception>
    public void Start(params IPEndPoint[] endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        Start(endpoints.Select(e => new SmtpListener(e)).ToArray());
    }

    /// <summary>
    /// Listens on several endpoints, some of which may speak implicit TLS (RFC 8314) or LMTP (RFC 2033), next to
    /// plain SMTP ones.
    /// </summary>
    /// <param name="listeners">The listeners; port 0 picks a free port.</param>
    /// <exception cref="ArgumentException">
    /// No listener was given, an implicit-TLS listener has no certificate to use, a
    /// <see cref="SmtpListener.ProxyProtocol"/> listener has no <see cref="SmtpListener.TrustedProxies"/>, or an LMTP
    /// listener asks for port 25.
    /// </exception>
    /// <exception cref="InvalidOperationException">The server is already running.</exception>
    /// <exception cref="SocketException">An endpoint cannot be bound; none is left bound.</exception>
    public void Start(params SmtpListener[] listeners)
    {
        ArgumentNullException.ThrowIfNull(listeners);
        if (listeners.Length == 0)
        {
            throw new ArgumentException("At least one endpoint is needed.", nameof(listeners));
        }

        if (listeners.Any(l => l.ImplicitTls) && !Options.TlsAvailable)
        {
            throw new ArgumentException("An implicit-TLS listener needs Options.ServerCertificate or Options.ServerCertificateSelector.", nameof(listeners));
        }

        // Accepting PROXY headers from anyone would let any client claim any address (proxy-protocol.txt section 2).
        if (listeners.FirstOrDefault(l => l.ProxyProtocol && (l.TrustedProxies is null || l.TrustedProxies.Count == 0)) is { } untrusted)
        {
            throw new ArgumentException($"The listener {untrusted.EndPoint} has ProxyProtocol but no TrustedProxies: name the proxies allowed to send PROXY headers.", nameof(listeners));
        }

        // RFC 2033 5: LMTP "MUST NOT be used on the TCP service port 25", where mail exchangers expect SMTP.
        if (listeners.FirstOrDefault(l => l.Protocol == SmtpListenerProtocol.Lmtp && l.EndPoint.Port == DefaultPort) is { } onPort25)
        {
            throw new ArgumentException($"An LMTP listener must not use TCP port 25 (RFC 2033): {onPort25}.", nameof(listeners));
        }

        lock (_gate)
        {
            if (_accepting is not null)
            {
                throw new InvalidOperationException("The server is already running; stop it before starting it again.");
            }

            var bound = new List<(Socket Socket, SmtpListener Listener)>();
            try
            {
                foreach (var listener in listeners)
                {
                    var socket = Bind(listener.EndPoint);
                    bound.Add((socket, listener with { EndPoint = (IPEndPoint)socket.LocalEndPoint! }));
                }
            }
            catch
            {
                bound.ForEach(l => l.Socket.Dispose());
                throw;
            }

            _listeners = bound;
            _bound = bound.Select(l => l.Listener).ToArray();
            _endpoints = _bound.Select(l => l.EndPoint).ToArray();
            _accepting = new CancellationTokenSource();
            if (_stopped.Task.IsCompleted)
            {
                _stopped = NewStoppedSource();
            }

            foreach (var (socket, listener) in bound)
            {
                Log.Listening(_logger, listener.EndPoint);
                _ = AcceptLoopAsync(socket, listener, _metrics.ForListener(listener), _accepting.Token);
            }
        }
    }

    /// <summary>
    /// Stops listening and releases the sockets (<c>::smtpd::stop</c>). Open sessions carry on to their end, as in
    /// Tcl smtpd. Stopping a server that is not running does nothing.
    /// </summary>
    /// <returns>A completed task once the listeners are closed.</returns>
    public Task StopAsync()
    {
        if (StopListening())
        {
            _stopped.TrySetResult();
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops listening and drains: sessions with no transaction open get <c>421 4.3.2</c> and are closed at once;
    /// sessions in a transaction may finish it (their callbacks are not cancelled) and then get <c>421 4.3.2</c>
    /// instead of starting another. After <paramref name="drainTimeout"/>, those still open get <c>421 4.3.2</c>
    /// and are closed, their callbacks cancelled.
    /// </summary>
    /// <param name="drainTimeout">How long sessions may take to finish; <see cref="TimeSpan.Zero"/> closes them at once.</param>
    /// <param name="cancellationToken">Cuts the drain short, as if the timeout had passed.</param>
    /// <returns>A task that completes when every session has ended.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="drainTimeout"/> is negative.</exception>
    public async Task StopAsync(TimeSpan drainTimeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(drainTimeout, TimeSpan.Zero);
        var wasRunning = StopListening();
        if (drainTimeout > TimeSpan.Zero)
        {
            foreach (var session in _sessions.Keys)
            {
                session.BeginDrain();
            }
        }

        try
        {
            // The drain's clock is the server's, like every other timeout (a test advances a fake one past it).
            await WhenSessionsEndedAsync().WaitAsync(drainTimeout, _time, cancellationToken);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            foreach (var session in _sessions.Keys)
            {
                session.Abort();
            }

            await WhenSessionsEndedAsync();
        }

        if (wasRunning)
        {
            _stopped.TrySetResult();
        }
    }

    /// <summary>Stops the server and closes every session with <c>421</c>.</summary>
    /// <returns>A task that completes when every session has ended.</returns>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero);
        if (_heartbeat is { } heartbeat)
        {
            await heartbeat.DisposeAsync();
        }

        _metrics.Dispose();
    }

    private static TaskCompletionSource NewStoppedSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static Socket Bind(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any))
            {
                // "All interfaces" means IPv4 too.
                socket.DualMode = true;
            }

            socket.Bind(endpoint);
            socket.Listen(ListenBacklog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private bool StopListening()
    {
        lock (_gate)
        {
            if (_accepting is null)
            {
                return false;
            }

            _accepting.Cancel();
            _accepting.Dispose();
            _accepting = null;
            _listeners.ForEach(l => l.Socket.Dispose());
            _listeners = [];
            _bound = [];
            _endpoints = [];
        }

        Log.Stopped(_logger);
        return true;
    }

    private async Task AcceptLoopAsync(Socket socket, SmtpListener listener, SmtpServerMetrics.Listener metrics, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await socket.AcceptAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                // A connection reset before accept completed, or a descriptor shortage: keep serving the others.
                Log.AcceptFailed(_logger, ex);
                continue;
            }

            metrics.Connected();
            StartSession(client, listener, metrics);
        }
    }

    private void StartSession(Socket client, SmtpListener listener, SmtpServerMetrics.Listener metrics)
    {
        var options = Snapshot();
        client.NoDelay = true;
        if (client.RemoteEndPoint is not IPEndPoint remote)
        {
            client.Dispose();
            return;
        }

        if (listener.ProxyProtocol && !listener.IsTrustedProxy(remote.Address))
        {
            // Only a trusted proxy may speak first here; anyone else is dropped before a byte is read or written.
            Log.ConnectionRefused(_logger, remote, "not a trusted PROXY protocol sender");
            client.Dispose();
            return;
        }

        if (Interlocked.Increment(ref _sessionCount) > options.MaxSessions)
        {
            Interlocked.Decrement(ref _sessionCount);
            _ = RefuseAsync(client, SmtpReplies.TooManySessions, "MaxSessions reached");
            return;
        }

        // Behind a proxy, every client arrives from the proxy's address: the session counts the real client once
        // its PROXY header has named it (TryAdmitClient), so the proxy is never taken for one client.
        var address = listener.ProxyProtocol ? null : remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
        if (address is not null && options.IsExemptFromMaxSessionsPerClient(address))
        {
            // An exempt network (a catcher's loopback) is not counted at all, so nothing is released at the end.
            address = null;
        }

        if (address is not null && !TryAdmitClient(address, options.MaxSessionsPerClient))
        {
            Interlocked.Decrement(ref _sessionCount);
            _ = RefuseAsync(client, SmtpReplies.TooManySessionsFromClient, "MaxSessionsPerClient reached");
            return;
        }

        SmtpConnection session;
        try
        {
            session = new SmtpConnection(client, options, _logger, _time, listener, _onSessionEnded, listener.ProxyProtocol ? _admitClient : null, metrics);
            session.CountedClient = address;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or IOException)
        {
            // The client left between accept and the start of its session.
            if (address is not null)
            {
                ReleaseClient(address);
            }

            EndSession();
            client.Dispose();
            return;
        }

        _sessions.TryAdd(session, 0);
        EnsureHeartbeat();
        if (options.ValidateHost is null && !listener.ImplicitTls)
        {
            // Nothing of the application's runs before the session's first wait (the greeting is written and the
            // first read is pending, or a PROXY header read is): running that prefix here saves a hop to another
            // thread per connection, which was a third of the server's CPU under connection churn (workload B in
            // docs/performance.md).
            _ = session.RunAsync();
        }
        else
        {
            // A host validation callback may block (the Tcl-style one is synchronous), and a TLS handshake whose
            // ClientHello has already arrived is milliseconds of cryptography: neither may hold up the accept loop.
            // The session is its own thread-pool work item, so this allocates nothing more.
            ThreadPool.UnsafeQueueUserWorkItem(session, preferLocal: false);
        }
    }

    /// <summary>
    /// The options every new session uses. One copy serves all sessions until an option changes, so that runtime
    /// changes apply to new sessions only without a copy per connection.
    /// </summary>
    private SmtpServerOptions Snapshot()
    {
        var version = Options.Version;
        var snapshot = _snapshot;
        if (snapshot is null || version != _snapshotVersion)
        {
            snapshot = Options.Clone();
            _snapshot = snapshot;
            _snapshotVersion = version;
        }

        return snapshot;
    }

    private void OnSessionEnded(SmtpConnection session)
    {
        _sessions.TryRemove(session, out _);
        if (session.CountedClient is { } client)
        {
            ReleaseClient(client);
        }

        EndSession();
    }

    private void EndSession()
    {
        if (Interlocked.Decrement(ref _sessionCount) == 0)
        {
            Volatile.Read(ref _allEnded)?.TrySetResult();
        }
    }

    /// <summary>Completes when no session is open.</summary>
    private Task WhenSessionsEndedAsync()
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _allEnded, ended);
        if (Volatile.Read(ref _sessionCount) == 0)
        {
            ended.TrySetResult();
        }

        return ended.Task;
    }

    /// <summary>
    /// One timer checks every session's deadline (Kestrel's heartbeat), instead of one timer per session. It ticks
    /// at a quarter of the shortest timeout, between 10 ms and 1 s.
    /// </summary>
    private void EnsureHeartbeat()
    {
        if (_heartbeat is not null)
        {
            return;
        }

        lock (_gate)
        {
            _heartbeat ??= _time.CreateTimer(static state => ((SmtpServer)state!).Heartbeat(), this, HeartbeatPeriod(), HeartbeatPeriod());
        }
    }

    private TimeSpan HeartbeatPeriod()
    {
        var shortest = (Options.CommandTimeout < Options.DataTimeout ? Options.CommandTimeout : Options.DataTimeout) / 4;
        return shortest < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : shortest > TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : shortest;
    }

    private void Heartbeat()
    {
        var now = _time.GetTimestamp();
        foreach (var session in _sessions.Keys)
        {
            session.CheckTimeout(now);
        }

        var period = HeartbeatPeriod();
        if (period != _heartbeatPeriod)
        {
            _heartbeatPeriod = period;
            _heartbeat?.Change(period, period);
        }
    }

    /// <summary>Counts one more session for a client address, unless it already has <paramref name="limit"/>.</summary>
    /// <returns>Whether the session was counted; a refused one is not.</returns>
    private bool TryAdmitClient(IPAddress address, int limit)
    {
        if (Snapshot().IsExemptFromMaxSessionsPerClient(address))
        {
            // Behind a PROXY listener the session asks once the header has named the client; an exempt client is
            // admitted uncounted, and ReleaseClient finds no count to lower.
            return true;
        }

        if (_sessionsPerClient.AddOrUpdate(address, 1, static (_, n) => n + 1) <= limit)
        {
            return true;
        }

        ReleaseClient(address);
        return false;
    }

    private void ReleaseClient(IPAddress address)
    {
        // Lowers the count only if there is one: an uncounted (exempt) client leaves no entry behind, and adds none.
        while (_sessionsPerClient.TryGetValue(address, out var count))
        {
            if (count <= 1 ? _sessionsPerClient.TryRemove(KeyValuePair.Create(address, count)) : _sessionsPerClient.TryUpdate(address, count - 1, count))
            {
                return;
            }
        }
    }

    private async Task RefuseAsync(Socket client, SmtpReply reply, string reason)
    {
        Log.ConnectionRefused(_logger, client.RemoteEndPoint, reason);
        try
        {
            using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(5), _time);
            await client.SendAsync(reply.GetBytes(withEnhancedStatusCode: false).ToArray(), SocketFlags.None, bounded.Token);
            client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            Log.ConnectionLost(_logger, ex);
        }
        finally
        {
            client.Dispose();
        }
    }
}
