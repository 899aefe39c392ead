using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace Smtpd.Cli.Tests.Support;

/// <summary>One listener as the catcher reported it in its <c>listening</c> event.</summary>
public sealed record Listener(IPEndPoint EndPoint, bool Tls);

/// <summary>
/// A running catcher process started with <c>--json</c>: its listeners come from the <c>listening</c> events and
/// every later stdout line is read as one JSON event. Disposal kills what is left of it.
/// </summary>
public sealed class CatcherProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan EventTimeout = TimeSpan.FromSeconds(30);

    private readonly Channel<JsonElement> _events = Channel.CreateUnbounded<JsonElement>();
    private readonly StringBuilder _stderr = new();
    private readonly List<string> _stdoutLines = [];
    private readonly Task _readOut;
    private readonly Task _readErr;

    private CatcherProcess(Process process, TestDirectory directory)
    {
        Process = process;
        Directory = directory;
        _readOut = ReadStdoutAsync();
        _readErr = ReadStderrAsync();
    }

    public Process Process { get; }

    public TestDirectory Directory { get; }

    public IReadOnlyList<Listener> Listeners { get; private set; } = [];

    /// <summary>The HTTP API's listeners (their <c>listening</c> events come before the SMTP ones).</summary>
    public IReadOnlyList<Listener> HttpListeners { get; private set; } = [];

    /// <summary>The POP3 listeners (<c>--pop3</c>; their <c>listening</c> events come after the SMTP ones).</summary>
    public IReadOnlyList<Listener> Pop3Listeners { get; private set; } = [];

    /// <summary>The first plain listener's endpoint.</summary>
    public IPEndPoint EndPoint => Listeners.First(l => !l.Tls).EndPoint;

    public int Port => EndPoint.Port;

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Every stdout line so far.</summary>
    public IReadOnlyList<string> StdoutLines
    {
        get
        {
            lock (_stdoutLines)
            {
                return [.. _stdoutLines];
            }
        }
    }

    /// <summary>
    /// Starts <c>smtpd --json</c> with the test's store and <paramref name="args"/>; listens on a free loopback
    /// port unless the arguments name listeners. Returns once every listener has reported.
    /// </summary>
    public static async Task<CatcherProcess> StartAsync(TestDirectory directory, params string[] args) => await StartAsync(directory, args, null);

    public static async Task<CatcherProcess> StartAsync(TestDirectory directory, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment, bool addDefaults = true)
    {
        var all = new List<string>();
        if (addDefaults)
        {
            all.Add("--json");
            if (!args.Contains("--listen") && !args.Contains("--smtps"))
            {
                all.AddRange(["--listen", "127.0.0.1:0"]);
            }

            if (!args.Contains("--db"))
            {
                all.AddRange(["--db", directory.Database]);
            }
        }

        all.AddRange(args);
        var expected = Math.Max(1, all.Count(a => a is "--listen" or "--smtps"));
        var process = Process.Start(SmtpdCli.StartInfo(directory, all, environment))!;
        var catcher = new CatcherProcess(process, directory);
        var listeners = new List<Listener>();
        var http = new List<Listener>();
        var pop3 = new List<Listener>();
        var expectedPop3 = all.Count(a => a == "--pop3");
        using var timeout = new CancellationTokenSource(StartTimeout);
        try
        {
            while (listeners.Count < expected || pop3.Count < expectedPop3)
            {
                var e = await catcher._events.Reader.ReadAsync(timeout.Token);
                if (e.GetProperty("event").GetString() == "prune")
                {
                    // A store opened with a smaller retention is pruned before the listeners open (docs/cli.md).
                    catcher.Prunes.Add(e);
                    continue;
                }

                if (e.GetProperty("event").GetString() != "listening")
                {
                    throw new InvalidOperationException("An event came before every listener was reported: " + e);
                }

                var listener = new Listener(IPEndPoint.Parse(e.GetProperty("endpoint").GetString()!), e.GetProperty("tls").GetBoolean());
                (e.TryGetProperty("http", out var isHttp) && isHttp.GetBoolean() ? http
                    : e.TryGetProperty("pop3", out var isPop3) && isPop3.GetBoolean() ? pop3
                    : listeners).Add(listener);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            var exit = process.HasExited ? process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none";
            await catcher.DisposeAsync();
            throw new InvalidOperationException($"The catcher did not start (exit {exit}): {catcher.Stderr}", ex);
        }

        catcher.Listeners = listeners;
        catcher.HttpListeners = http;
        catcher.Pop3Listeners = pop3;
        return catcher;
    }

    /// <summary>Waits for the next <c>message</c> event.</summary>
    /// <summary>The events not read yet (after <see cref="StopAsync"/>, every event the catcher wrote).</summary>
    /// <returns>The events, in order.</returns>
    public List<JsonElement> RemainingEvents()
    {
        var events = new List<JsonElement>();
        while (_events.Reader.TryRead(out var e))
        {
            events.Add(e);
        }

        return events;
    }

    /// <summary>The <c>prune</c> events <see cref="NextMessageAsync"/> passed over, in order.</summary>
    public List<JsonElement> Prunes { get; } = [];

    public async Task<JsonElement> NextMessageAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? EventTimeout);
        try
        {
            var e = await _events.Reader.ReadAsync(cts.Token);
            while (e.GetProperty("event").GetString() == "prune")
            {
                // Retention reports after its commit, on its own thread: before or after the message it made room for.
                Prunes.Add(e);
                e = await _events.Reader.ReadAsync(cts.Token);
            }

            Assert.Equal("message", e.GetProperty("event").GetString());
            return e;
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("No message event came; stderr: " + Stderr);
        }
    }

    /// <summary>Whether an event is waiting, without waiting for one.</summary>
    public bool HasPendingEvent => _events.Reader.TryPeek(out _);

    /// <summary>Sends <paramref name="signal"/> and waits for the process to exit; returns its exit code.</summary>
    public async Task<int> StopAsync(string signal = "TERM", TimeSpan? timeout = null)
    {
        if (!Process.HasExited)
        {
            SmtpdCli.Signal(Process, signal);
        }

        return await WaitForExitAsync(timeout);
    }

    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        await Process.WaitForExitAsync(cts.Token);
        await _readOut;
        await _readErr;
        return Process.ExitCode;
    }

    /// <summary>Every event still queued, after the process has exited.</summary>
    public List<JsonElement> DrainEvents()
    {
        var list = new List<JsonElement>();
        while (_events.Reader.TryRead(out var e))
        {
            list.Add(e);
        }

        return list;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                await Process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
        }

        Process.Dispose();
    }

    private async Task ReadStdoutAsync()
    {
        while (await Process.StandardOutput.ReadLineAsync() is { } line)
        {
            lock (_stdoutLines)
            {
                _stdoutLines.Add(line);
            }

            try
            {
                using var document = JsonDocument.Parse(line);
                _events.Writer.TryWrite(document.RootElement.Clone());
            }
            catch (JsonException)
            {
                // Kept in StdoutLines, where the JSON-only test finds it.
            }
        }

        _events.Writer.TryComplete();
    }

    private async Task ReadStderrAsync()
    {
        while (await Process.StandardError.ReadLineAsync() is { } line)
        {
            lock (_stderr)
            {
                _stderr.AppendLine(line);
            }
        }
    }
}
