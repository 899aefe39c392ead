// Load generator for bench/run.sh.
//
//   LoadGen pipelined HOST:PORT [--connections 20] [--messages 20000] [--size 1024] [--bdat] [--starttls]
//       Each connection sends MAIL, RCPT and DATA (or MAIL, RCPT and one BDAT LAST chunk) in one write per
//       transaction (RFC 2920), and measures each transaction's latency. Prints one JSON line with msgs/s, MiB/s,
//       p50 and p99 in milliseconds.
//   LoadGen idle HOST:PORT [--connections 10000] [--hold-seconds 10]
//       Opens the connections, reads each greeting, sends EHLO, reads the reply, prints "ready N", then holds
//       them open for the given time and prints "done".
//   LoadGen events HOST:PORT [--connections 10] [--hold-seconds 600] [--poll-per-second 0]
//       Opens the connections to the catcher's WebSocket /api/events (HOST:PORT is its HTTP API), prints "ready N",
//       reads and discards every event as a browser tab would, and prints "events N" when the time is up. With
//       --poll-per-second N, one more client also asks for the list's first page (GET /api/v1/messages) N times a
//       second, each request after the last one's answer, as a test suite polling for its mail would; it then
//       prints "polls N, failed N".
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: LoadGen pipelined|idle|events HOST:PORT [options]");
    return 2;
}

var mode = args[0];
var endpoint = IPEndPoint.Parse(args[1]);
int Option(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

bool Flag(string name) => Array.IndexOf(args, name) >= 0;

return mode switch
{
    "pipelined" => await PipelinedAsync(endpoint, Option("--connections", 20), Option("--messages", 20000), Option("--size", 1024), Flag("--bdat"), Flag("--starttls")),
    "idle" => await IdleAsync(endpoint, Option("--connections", 10000), Option("--hold-seconds", 10)),
    "events" => await EventsAsync(endpoint, Option("--connections", 10), Option("--hold-seconds", 600), Option("--poll-per-second", 0)),
    _ => 2,
};

static async Task<int> PipelinedAsync(IPEndPoint endpoint, int connections, int messages, int size, bool bdat, bool startTls)
{
    var body = MakeBody(size);
    var remaining = messages;
    var latencies = new double[messages];
    var latencyIndex = -1;
    var clock = Stopwatch.StartNew();
    var tasks = Enumerable.Range(0, connections).Select(async c =>
    {
        await using var connection = await Connection.OpenAsync(endpoint, startTls);
        var transaction = bdat
            ? Encoding.ASCII.GetBytes($"MAIL FROM:<load{c}@bench.example> BODY=BINARYMIME\r\nRCPT TO:<sink@bench.example>\r\nBDAT {body.Length} LAST\r\n").Concat(body).ToArray()
            : Encoding.ASCII.GetBytes($"MAIL FROM:<load{c}@bench.example>\r\nRCPT TO:<sink@bench.example>\r\nDATA\r\n");
        var content = bdat ? [] : body.Concat("\r\n.\r\n"u8.ToArray()).ToArray();
        while (Interlocked.Decrement(ref remaining) >= 0)
        {
            var started = Stopwatch.GetTimestamp();
            await connection.WriteAsync(transaction);
            await connection.ExpectAsync("250");
            await connection.ExpectAsync("250");
            if (!bdat)
            {
                await connection.ExpectAsync("354");
                await connection.WriteAsync(content);
            }

            await connection.ExpectAsync("250");
            latencies[Interlocked.Increment(ref latencyIndex)] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        await connection.WriteAsync("QUIT\r\n"u8.ToArray());
    }).ToArray();
    await Task.WhenAll(tasks);
    clock.Stop();
    var measured = latencies[..(latencyIndex + 1)];
    Array.Sort(measured);
    var seconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{{\"messages\":{measured.Length},\"seconds\":{seconds:F3},\"msgsPerSecond\":{measured.Length / seconds:F0},\"mibPerSecond\":{measured.Length * (double)size / seconds / 1048576:F2},\"p50ms\":{Percentile(measured, 0.50):F3},\"p99ms\":{Percentile(measured, 0.99):F3}}}"));
    return 0;
}

static async Task<int> EventsAsync(IPEndPoint endpoint, int connections, int holdSeconds, int pollsPerSecond)
{
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(holdSeconds));
    var sockets = new List<System.Net.WebSockets.ClientWebSocket>();
    for (var i = 0; i < connections; i++)
    {
        var socket = new System.Net.WebSockets.ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{endpoint}/api/events"), stop.Token);
        sockets.Add(socket);
    }

    Console.WriteLine($"ready {sockets.Count}");
    long events = 0;
    var readers = sockets.Select(async socket =>
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                // The Memory overload: no Task or result object per frame, as a browser's parser allocates none.
                var result = await socket.ReceiveAsync(buffer.AsMemory(), stop.Token);
                if (result.MessageType == System.Net.WebSockets.WebSocketMessageType.Close)
                {
                    return;
                }

                if (result.EndOfMessage)
                {
                    Interlocked.Increment(ref events);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (System.Net.WebSockets.WebSocketException)
        {
        }
    }).ToArray();
    long polls = 0, failedPolls = 0;
    var poller = pollsPerSecond <= 0 ? Task.CompletedTask : Task.Run(async () =>
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{endpoint}/") };
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / pollsPerSecond));
        try
        {
            while (await timer.WaitForNextTickAsync(stop.Token))
            {
                try
                {
                    using var response = await http.GetAsync("api/v1/messages?limit=50", stop.Token);
                    await response.Content.ReadAsByteArrayAsync(stop.Token);
                    Interlocked.Increment(ref response.IsSuccessStatusCode ? ref polls : ref failedPolls);
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref failedPolls);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    });
    await Task.WhenAll(readers);
    await poller;
    Console.WriteLine($"events {Interlocked.Read(ref events)}");
    if (pollsPerSecond > 0)
    {
        Console.WriteLine($"polls {Interlocked.Read(ref polls)}, failed {Interlocked.Read(ref failedPolls)}");
    }
    foreach (var socket in sockets)
    {
        socket.Dispose();
    }

    return 0;
}

static async Task<int> IdleAsync(IPEndPoint endpoint, int connections, int holdSeconds)
{
    var open = new List<Connection>(connections);
    var gate = new SemaphoreSlim(200);
    var tasks = Enumerable.Range(0, connections).Select(async _ =>
    {
        await gate.WaitAsync();
        try
        {
            var connection = await Connection.OpenAsync(endpoint, startTls: false);
            lock (open)
            {
                open.Add(connection);
            }
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            // Counted below: a refused connection is not open.
        }
        finally
        {
            gate.Release();
        }
    }).ToArray();
    try
    {
        // A server that stops greeting must not hang the benchmark: whatever opened in a minute is what counts.
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60));
    }
    catch (TimeoutException)
    {
    }

    int opened;
    lock (open)
    {
        opened = open.Count;
    }

    Console.WriteLine($"ready {opened}");
    await Task.Delay(TimeSpan.FromSeconds(holdSeconds));
    Connection[] all;
    lock (open)
    {
        all = [.. open];
    }

    foreach (var connection in all)
    {
        await connection.DisposeAsync();
    }

    Console.WriteLine("done");
    return all.Length == connections ? 0 : 1;
}

static byte[] MakeBody(int size)
{
    // Headers, then 78-letter lines: valid DATA content that needs no dot-stuffing, ending in CRLF.
    var text = new StringBuilder("From: <load@bench.example>\r\nTo: <sink@bench.example>\r\nSubject: load\r\n\r\n");
    while (text.Length < size)
    {
        var line = Math.Min(78, Math.Max(0, size - text.Length - 2));
        text.Append('a', line).Append("\r\n");
    }

    return Encoding.ASCII.GetBytes(text.ToString());
}

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

/// <summary>One client connection that reads replies line by line.</summary>
internal sealed class Connection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[16 * 1024];
    private Stream _stream;
    private int _start;
    private int _end;

    private Connection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public static async Task<Connection> OpenAsync(IPEndPoint endpoint, bool startTls)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        var connection = new Connection(socket);
        await connection.ExpectAsync("220");
        await connection.WriteAsync("EHLO loadgen.bench.example\r\n"u8.ToArray());
        await connection.ExpectAsync("250");
        if (startTls)
        {
            await connection.WriteAsync("STARTTLS\r\n"u8.ToArray());
            await connection.ExpectAsync("220");
            var tls = new SslStream(connection._stream);
#pragma warning disable CA5359 // The benchmark server uses a self-signed certificate.
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", RemoteCertificateValidationCallback = static (_, _, _, _) => true });
#pragma warning restore CA5359
            connection._stream = tls;
            await connection.WriteAsync("EHLO loadgen.bench.example\r\n"u8.ToArray());
            await connection.ExpectAsync("250");
        }

        return connection;
    }

    public ValueTask WriteAsync(byte[] data) => _stream.WriteAsync(data);

    /// <summary>Reads one whole reply (skipping continuation lines) and checks its code.</summary>
    public async Task ExpectAsync(string code)
    {
        while (true)
        {
            var line = await ReadLineAsync();
            if (line.Length >= 4 && line[3] == '-')
            {
                continue;
            }

            if (!line.StartsWith(code, StringComparison.Ordinal))
            {
                throw new IOException($"expected {code}, got: {line}");
            }

            return;
        }
    }

    private async Task<string> ReadLineAsync()
    {
        while (true)
        {
            var index = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (index >= 0)
            {
                var line = Encoding.ASCII.GetString(_buffer, _start, index - _start).TrimEnd('\r');
                _start = index + 1;
                return line;
            }

            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            var read = await _stream.ReadAsync(_buffer.AsMemory(_end));
            if (read == 0)
            {
                throw new IOException("connection closed");
            }

            _end += read;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
