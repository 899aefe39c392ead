// bench/ApiBench: issue 13's goals for the catcher's HTTP API that bench/SearchBench (in-process store calls) cannot
// see, measured against the CLI catcher as a separate process (docs/performance.md "Catcher API: wait latency, raw
// download and 1,000,000 messages"):
//   wait     [--samples 200] [--stages 0,1000,100000] [--settle-ms 100] [--db FILE] [--cli DLL[,DLL...]]
//            (--cli: Smtpd.Cli.dll of other builds, "." for this one; their samples alternate, one catcher each)
//   download [--size-mib 10] [--rounds 20] [--db FILE] [--cli DLL] [--open-first]
//   peers    [--smtp4dev PATH] [--stored 1000] [--runs 200] [--db FILE] [--cli DLL]
//   api      --db FILE|postgres://… [--runs 50] [--arriving] [--fill N] [--cli DLL] [--warmup 3]
//            (--warmup: untimed calls of each route first; a fresh catcher's JIT tiers up within its first few dozen
//            requests, which a p99 over 50 calls otherwise measures)
//            (--fill: first store messages over SMTP until the store holds N)
using System.Globalization;
using Smtpd.ApiBench;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: ApiBench wait|download|peers|api [options] (see the top of Program.cs)");
    return 2;
}

var work = Path.Combine(Path.GetTempPath(), "api-bench");
Directory.CreateDirectory(work);
Console.WriteLine($"{DateTime.UtcNow:u} {args[0]}, {Environment.ProcessorCount} cores, load {ServerProcess.LoadAverage()}");
switch (args[0])
{
    case "wait":
        var stages = Option("--stages", "0,1000,100000").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        await WaitBench.RunAsync(Option("--db", Path.Combine(work, "wait.db")), Number("--samples", 200), stages, TimeSpan.FromMilliseconds(Number("--settle-ms", 100)),
            Option("--cli", ".").Split(',').Select(c => c == "." ? null : c).ToArray());
        break;
    case "download":
        await DownloadBench.RunAsync(Option("--db", Path.Combine(work, "download.db")), Number("--size-mib", 10) * 1048576, Number("--rounds", 20),
            Cli(), args.Contains("--open-first"));
        break;
    case "peers":
        await PeerBench.RunAsync(Option("--smtp4dev", Path.Combine(work, "tools", "smtp4dev")), Option("--db", Path.Combine(work, "peers.db")), Number("--stored", 1000), Number("--runs", 200), Cli());
        break;
    case "api":
        await ScaleBench.RunAsync(Option("--db", Path.Combine(work, "store-1m.db")), Number("--runs", 50), args.Contains("--arriving"), Cli(), Number("--fill", 0), Number("--warmup", 3));
        break;
    default:
        Console.Error.WriteLine($"unknown mode {args[0]}");
        return 2;
}

Console.WriteLine($"{DateTime.UtcNow:u} done, load {ServerProcess.LoadAverage()}");
return 0;

string Option(string name, string fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
}

// Smtpd.Cli.dll to run; this checkout's Release or Debug build when absent.
string? Cli() => Option("--cli", ".") is var cli && cli != "." ? cli : null;

int Number(string name, int fallback) => int.Parse(Option(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
