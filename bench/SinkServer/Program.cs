// A benchmark target: Smtpd as a sink (or, with SMTPD_BENCH_DELIVER=1, with a no-op Deliver callback) on
// 127.0.0.1:PORT (default 2526).
// Usage: SinkServer [port] [max-sessions]
using System.Globalization;
using System.Net;
using Smtpd;

// Host choices, each measured both ways in docs/performance.md (the "smtpd-default" row runs with none of them).
// They must be made before the first socket is used; SMTPD_BENCH_TUNED=0 keeps the runtime's defaults.
if (Environment.GetEnvironmentVariable("SMTPD_BENCH_TUNED") != "0")
{
    // Socket continuations run inline on the socket engine's thread instead of hopping to the thread pool. It is
    // safe here because no callback blocks.
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");

    // One engine thread, as smtp-sink is one process. With inline completions the runtime starts one engine per
    // core; on the benchmark's two cores, which the load generator shares, a second engine only preempts the
    // load generator (its involuntary context switches went from about 150 to 11,800 per 20,000 messages).
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT", "1");
}

var port = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2526;
var maxSessions = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20_000;
var options = new SmtpServerOptions
{
    ServerName = "sink.local",
    MaxSessions = maxSessions,
    MaxSessionsPerClient = maxSessions,
    MaxMessageSize = 64L * 1024 * 1024,
    // No delivery callback: the server accepts and discards, like smtp-sink, and stores no content.
};
if (Environment.GetEnvironmentVariable("SMTPD_BENCH_DELIVER") == "1")
{
    // The "smtpd-deliver" row: a no-op callback, so every message is buffered (and spooled past 64 KiB) as it
    // would be for a real application, and a message object is built.
    options.Deliver = static (_, _) => ValueTask.FromResult(SmtpVerdict.Accept);
}

await using var server = new SmtpServer(options);
server.Start(IPAddress.Loopback, port);
Console.WriteLine($"listening {server.Endpoints[0]}");
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}
