using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Smtpd.Catcher.Pop3;

/// <summary>
/// Listens for POP3 on every endpoint of <see cref="Pop3Options.EndPoints"/> and runs a <see cref="Pop3Connection"/>
/// per client, up to <see cref="Pop3Options.MaxConnections"/> at once.
/// </summary>
internal sealed class Pop3Server : IAsyncDisposable
{
    private readonly Pop3Options _options;
    private readonly Pop3SessionSettings _settings;
    private readonly IPop3MaildropSource _maildrops;
    private readonly X509Certificate2? _certificate;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentTasks _sessions = new();
    private int _connections;

    /// <param name="options">The options; the users are copied at construction.</param>
    /// <param name="maildrops">Where logins find their maildrops.</param>
    /// <param name="certificate">The certificate for STLS, or <see langword="null"/>.</param>
    /// <param name="logger">Where the server logs.</param>
    public Pop3Server(Pop3Options options, IPop3MaildropSource maildrops, X509Certificate2? certificate, ILogger logger)
    {
        _options = options;
        _maildrops = maildrops;
        _certificate = certificate;
        _logger = logger;
        _settings = new Pop3SessionSettings(
            new Dictionary<string, string>(options.Users, StringComparer.Ordinal),
            certificate is not null,
            options.MaxLineLength,
            options.MaxBadCommands,
            options.MaxAuthFailures);
    }

    /// <summary>The bound endpoints, with their real ports.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; private set; } = [];

    /// <summary>Binds every endpoint, or none: a failure closes those already bound.</summary>
    /// <exception cref="SocketException">An endpoint cannot be bound.</exception>
    public void Start()
    {
        try
        {
            foreach (var endPoint in _options.EndPoints)
            {
                var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                _listeners.Add(socket);
                if (endPoint.Address.Equals(IPAddress.IPv6Any))
                {
                    socket.DualMode = true;
                }

                socket.Bind(endPoint);
                socket.Listen(128);
            }
        }
        catch
        {
            foreach (var socket in _listeners)
            {
                socket.Dispose();
            }

            _listeners.Clear();
            throw;
        }

        EndPoints = [.. _listeners.Select(s => (IPEndPoint)s.LocalEndPoint!)];
        foreach (var socket in _listeners)
        {
            Pop3Log.Listening(_logger, (IPEndPoint)socket.LocalEndPoint!);
            _acceptLoops.Add(AcceptAsync(socket));
        }
    }

    /// <summary>Stops listening, ends every session (none enters UPDATE, so nothing is deleted) and waits for them.</summary>
    /// <returns>A task that completes when every session has ended.</returns>
    public async ValueTask DisposeAsync()
    {
        await _shutdown.CancelAsync();
        foreach (var socket in _listeners)
        {
            socket.Dispose();
        }

        await Task.WhenAll(_acceptLoops);
        await _sessions.WhenAllAsync();
        _shutdown.Dispose();
    }

    private async Task AcceptAsync(Socket listener)
    {
        while (!_shutdown.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_shutdown.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_shutdown.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            client.NoDelay = true;
            if (Interlocked.Increment(ref _connections) > _options.MaxConnections)
            {
                Interlocked.Decrement(ref _connections);
                Pop3Log.TooManyConnections(_logger, _options.MaxConnections);
                _sessions.Add(RefuseAsync(client));
                continue;
            }

            var connection = new Pop3Connection(client, _options, _settings, _maildrops, _certificate, _logger, _shutdown.Token);
            _sessions.Add(RunAsync(connection));
        }
    }

    private async Task RunAsync(Pop3Connection connection)
    {
        // Off the accept loop at once: a session never delays the next accept.
        await Task.Yield();
        try
        {
            await connection.RunAsync();
        }
        finally
        {
            Interlocked.Decrement(ref _connections);
        }
    }

    /// <summary>RFC 3206 section 4: <c>[SYS/TEMP]</c> tells the client to try again later.</summary>
    private static async Task RefuseAsync(Socket client)
    {
        using (client)
        {
            try
            {
                await client.SendAsync("-ERR [SYS/TEMP] too many connections; try again later\r\n"u8.ToArray(), SocketFlags.None);
                client.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>The tasks of the running sessions, each removed when it completes.</summary>
    private sealed class ConcurrentTasks
    {
        private readonly HashSet<Task> _tasks = [];
        private readonly Lock _gate = new();

        public void Add(Task task)
        {
            lock (_gate)
            {
                _tasks.Add(task);
            }

            _ = task.ContinueWith(
                t =>
                {
                    lock (_gate)
                    {
                        _tasks.Remove(t);
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        public Task WhenAllAsync()
        {
            lock (_gate)
            {
                return Task.WhenAll([.. _tasks]);
            }
        }
    }
}
