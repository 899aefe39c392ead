using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// A TCP proxy in front of PostgreSQL that can lose a COMMIT's acknowledgement on purpose: it forwards the client's
/// COMMIT, waits for the server's reply (so the transaction is committed), and then closes both sides without passing
/// the reply on. Or it drops the connection before the COMMIT reaches the server (the transaction is rolled back).
/// It can also refuse new connections, as an unreachable server does.
/// </summary>
internal sealed class PostgresCommitProxy : IAsyncDisposable
{
    /// <summary>What the frontend protocol's Query message for COMMIT carries: the text and its NUL terminator.</summary>
    private static readonly byte[] Commit = "COMMIT\0"u8.ToArray();

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly TaskCompletionSource _dropped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _mode;

    private PostgresCommitProxy(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        _host = builder.Host!;
        _port = builder.Port;
        _listener.Start();
        builder.Host = "127.0.0.1";
        builder.Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        ConnectionString = builder.ConnectionString;
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>The connection string that goes through the proxy.</summary>
    public string ConnectionString { get; }

    /// <summary>Whether new connections are closed as soon as they are accepted.</summary>
    public bool Refusing { get; set; }

    /// <summary>Completes once a COMMIT was dropped.</summary>
    public Task Dropped => _dropped.Task;

    /// <summary>Starts a proxy to the server of <paramref name="connectionString"/>.</summary>
    public static PostgresCommitProxy Start(string connectionString) => new(connectionString);

    /// <summary>The next COMMIT reaches the server, but its reply is lost with the connection.</summary>
    /// <param name="thenRefuse">Refuse new connections from then on, so the outcome cannot be asked for.</param>
    public void LoseNextCommitReply(bool thenRefuse = false) => Volatile.Write(ref _mode, thenRefuse ? 2 : 1);

    /// <summary>The connection breaks as the next COMMIT is sent, before the server gets it.</summary>
    /// <param name="thenRefuse">Refuse new connections from then on, so the outcome cannot be asked for.</param>
    public void DropNextCommit(bool thenRefuse = false) => Volatile.Write(ref _mode, thenRefuse ? 4 : 3);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            if (Refusing)
            {
                client.Dispose();
                continue;
            }

            _ = Task.Run(() => RelayAsync(client));
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using var server = new TcpClient();
        using (client)
        {
            try
            {
                await server.ConnectAsync(_host, _port, _stop.Token);
                var swallow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var up = PumpUpAsync(client.GetStream(), server.GetStream(), swallow);
                var down = PumpDownAsync(server.GetStream(), client.GetStream(), swallow.Task);
                await Task.WhenAny(up, down);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // One side went away: both close.
            }
        }
    }

    /// <summary>Client to server; when armed, acts on the COMMIT.</summary>
    private async Task PumpUpAsync(NetworkStream from, NetworkStream to, TaskCompletionSource swallow)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await from.ReadAsync(buffer, _stop.Token);
            if (read == 0)
            {
                return;
            }

            if (buffer.AsSpan(0, read).IndexOf(Commit) >= 0 && Volatile.Read(ref _mode) is var mode and > 0 && Interlocked.CompareExchange(ref _mode, 0, mode) == mode)
            {
                if (mode >= 3)
                {
                    Refusing = mode == 4;
                    // Closing both sides here: the server sees the client vanish inside the transaction and rolls it back.
                    _dropped.TrySetResult();
                    return;
                }

                Refusing = mode == 2;
                swallow.TrySetResult();
            }

            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
        }
    }

    /// <summary>Server to client; once told to swallow, the next reply (the COMMIT's) is dropped with the connection.</summary>
    private async Task PumpDownAsync(NetworkStream from, NetworkStream to, Task swallow)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var read = await from.ReadAsync(buffer, _stop.Token);
            if (read == 0)
            {
                return;
            }

            if (swallow.IsCompleted)
            {
                // The server has answered the COMMIT, so it has committed; the client never learns it.
                _dropped.TrySetResult();
                return;
            }

            await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
        }
    }
}
