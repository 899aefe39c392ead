// A benchmark target: Smtpd as a sink (or, with SMTPD_BENCH_DELIVER=1, with a no-op Deliver callback) on
// 127.0.0.1:PORT (default 2526).
// Usage: SinkServer [port] [max-sessions]
using System.Globalization;
using System.Net;
using Smtpd;

// A host choice, measured both ways in docs/performance.md: socket continuations run inline on the socket engine's
// thread instead of hopping to the thread pool. It is safe here because no callback blocks. It must be set before
// the first socket is used; SMTPD_BENCH_INLINE=0 keeps the runtime default.
if (Environment.GetEnvironmentVariable("SMTPD_BENCH_INLINE") != "0")
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
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
