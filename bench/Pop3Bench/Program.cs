using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Smtpd;
using Smtpd.Catcher;
using Smtpd.Catcher.Storage;

// One message of MIB MiB (76-character lines, every 100th starting with a dot, so byte-stuffing runs all through it),
// stored through the catcher's own path, then RETR over loopback RUNS times in one session.
var mib = Option("--mib", 10);
var runs = Option("--runs", 20);
var directory = Directory.CreateTempSubdirectory("smtpd-pop3-bench-").FullName;
try
{
    var options = new CatcherOptions { DatabasePath = Path.Combine(directory, "store.db") };
    options.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));
    options.Pop3.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
    await using var catcher = new MailCatcher(options, new ConsoleErrors());
    catcher.Start();
    var content = Message(mib);
    await catcher.StoreLocalAsync(content, new MessageRecord { ReceivedAt = DateTimeOffset.UtcNow, MailFrom = "bench@example.com", Recipients = ["bob@example.com"], Client = "bench", Size = 0, Sha256 = string.Empty });

    using var tcp = new TcpClient { NoDelay = true };
    await tcp.ConnectAsync(catcher.Pop3EndPoints[0]);
    var stream = tcp.GetStream();
    var buffer = new byte[64 * 1024];
    await ReadUntilAsync(stream, buffer, "\r\n"u8.ToArray());
    await SendAsync(stream, "USER bench\r\nPASS bench\r\n");
    await ReadUntilAsync(stream, buffer, "maildrop\r\n"u8.ToArray());

    // One warm-up RETR, then the timed ones; RSET keeps nothing marked, so every RETR sends the same octets.
    long received = await RetrAsync(stream, buffer);
    var times = new List<double>();
    var allocated = GC.GetTotalAllocatedBytes(precise: true);
    for (var i = 0; i < runs; i++)
    {
        var watch = Stopwatch.StartNew();
        received = await RetrAsync(stream, buffer);
        times.Add(watch.Elapsed.TotalMilliseconds);
    }

    allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
    times.Sort();
    var p50 = times[times.Count / 2];
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"RETR of {content.Length:N0} octets ({received:N0} on the wire), {runs} runs, {Environment.ProcessorCount} cores: p50 {p50:F1} ms, max {times[^1]:F1} ms, {content.Length / 1048576.0 / (p50 / 1000):F0} MiB/s, {allocated / runs / 1024.0:F0} KiB allocated per RETR"));
}
finally
{
    Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    Directory.Delete(directory, recursive: true);
}

static async Task<long> RetrAsync(NetworkStream stream, byte[] buffer)
{
    await SendAsync(stream, "RETR 1\r\n");
    var octets = await ReadUntilAsync(stream, buffer, "\r\n.\r\n"u8.ToArray());
    await SendAsync(stream, "RSET\r\n");
    await ReadUntilAsync(stream, buffer, "\r\n"u8.ToArray());
    return octets;
}

static Task SendAsync(NetworkStream stream, string text) => stream.WriteAsync(Encoding.ASCII.GetBytes(text)).AsTask();

// Reads until the input ends with the marker, into one reused buffer; returns the octets read.
static async Task<long> ReadUntilAsync(NetworkStream stream, byte[] buffer, byte[] marker)
{
    long total = 0;
    var tail = new byte[marker.Length];
    var tailLength = 0;
    while (true)
    {
        var read = await stream.ReadAsync(buffer);
        if (read == 0)
        {
            throw new IOException("The server closed the connection.");
        }

        total += read;
        // Keep the last marker-length octets seen, across reads, without allocating.
        if (read >= marker.Length)
        {
            buffer.AsSpan(read - marker.Length, marker.Length).CopyTo(tail);
            tailLength = marker.Length;
        }
        else
        {
            var keep = Math.Min(tailLength, marker.Length - read);
            tail.AsSpan(tailLength - keep, keep).CopyTo(tail);
            buffer.AsSpan(0, read).CopyTo(tail.AsSpan(keep));
            tailLength = keep + read;
        }

        if (tailLength == marker.Length && tail.AsSpan().SequenceEqual(marker))
        {
            return total;
        }
    }
}

static byte[] Message(int mib)
{
    var text = new StringBuilder("From: bench@example.com\r\nTo: bob@example.com\r\nSubject: POP3 bench\r\n\r\n");
    var line = new string('x', 76) + "\r\n";
    for (var i = 0; text.Length < mib * 1024 * 1024; i++)
    {
        text.Append(i % 100 == 0 ? "." + line[1..] : line);
    }

    return Encoding.ASCII.GetBytes(text.ToString());
}

int Option(string name, int fallback) =>
    args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() is { } value ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;

/// <summary>Prints the catcher's warnings and errors, so a failed run says why.</summary>
internal sealed class ConsoleErrors : Microsoft.Extensions.Logging.ILoggerFactory, Microsoft.Extensions.Logging.ILogger
{
    public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
    {
    }

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Debug;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Console.Error.WriteLine($"{logLevel}: {formatter(state, exception)} {exception}");

    public void Dispose()
    {
    }
}
