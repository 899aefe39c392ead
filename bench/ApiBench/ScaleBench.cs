using System.Diagnostics;

namespace Smtpd.ApiBench;

/// <summary>
/// The API calls of bench/SearchBench's --store mode, over HTTP to the CLI catcher opened on an existing store (a
/// 1,000,000-message file that SearchBench filled): what a client sees, routing and JSON included, and the catcher
/// process's RSS after the calls, which is the "RSS bounded" half of issue 13's 1,000,000-message goal.
/// </summary>
internal static class ScaleBench
{
    private static readonly string[] Searches = ["from:sender42@", "from:nobody@nowhere.example", "subject:invoice", "subject:\"order 12345\"", "invoice", "zebra", "\"lorem ipsum\""];

    public static async Task RunAsync(string db, int runs, bool arriving, string? cli, int fill = 0, int warmup = 3)
    {
        // A PostgreSQL --db (a postgres:// URL or an Npgsql connection string) names a database, not a file.
        var postgres = db.StartsWith("postgres", StringComparison.OrdinalIgnoreCase) || db.Contains("Host=", StringComparison.OrdinalIgnoreCase);
        if (!postgres && fill == 0 && !File.Exists(db))
        {
            throw new FileNotFoundException("fill it first: dotnet run -c Release --project bench/SearchBench -- --store --messages 1000000 --db FILE", db);
        }

        var opened = Stopwatch.StartNew();
        await using var catcher = await ServerProcess.StartSmtpdAsync(db, cli);
        Console.WriteLine($"catcher pid {catcher.Id} listening {opened.Elapsed.TotalSeconds:F1} s after start, RSS {catcher.RssKiB / 1024.0:F0} MiB; "
            + (postgres ? "PostgreSQL" : $"{db} ({new FileInfo(db).Length / 1048576.0:F0} MiB)"));
        using var http = new HttpClient { BaseAddress = catcher.Http, Timeout = TimeSpan.FromMinutes(2) };
        var stored = await WaitBench.StoredAsync(http);
        if (fill > stored)
        {
            // --fill: the missing messages over SMTP (20 connections, as workload A), through the catcher's own ingest, so both
            // backends hold the same Mail.Ordinary messages and index them the same way.
            var filling = Stopwatch.StartNew();
            await Mail.FillAsync(catcher.Smtp, (int)stored + 1, fill - (int)stored, connections: 20);
            Console.WriteLine($"filled {fill - stored:N0} messages over SMTP in {filling.Elapsed.TotalSeconds:F0} s ({(fill - stored) / filling.Elapsed.TotalSeconds:F0} msgs/s), load {ServerProcess.LoadAverage()}");
            stored = await WaitBench.StoredAsync(http);
        }

        using var smtp = arriving ? await Mail.ConnectAsync(catcher.Smtp) : null;
        var random = new Random(7);
        var sent = 0;
        Console.WriteLine($"{stored:N0} messages, {runs} runs each after {warmup} untimed, mode {(arriving ? "arriving (one message over SMTP before each call, untimed)" : "static")}, load {ServerProcess.LoadAverage()}");
        Console.WriteLine($"{"call",-44} {"p50 ms",8} {"p99 ms",8}");
        var calls = new List<(string Name, Func<string> Path)>
        {
            ("list: first page of 50, with counts", () => "api/v1/messages?limit=50"),
            ("message by id", () => $"api/v1/message/{1 + random.Next((int)stored)}"),
        };
        calls.AddRange(Searches.Select(q => ($"search {q}", (Func<string>)(() => $"api/v1/search?query={Uri.EscapeDataString(q)}&limit=50"))));
        foreach (var (name, path) in calls)
        {
            var times = new List<double>(runs);
            for (var i = -warmup; i < runs; i++)
            {
                if (smtp is not null)
                {
                    await smtp.SendAsync(Mail.Ordinary(++sent, random));
                }

                var start = Stopwatch.GetTimestamp();
                using (var response = await http.GetAsync(path()))
                {
                    response.EnsureSuccessStatusCode();
                    _ = await response.Content.ReadAsByteArrayAsync();
                }

                if (i >= 0)
                {
                    times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }

            Console.WriteLine($"{name,-44} {Stats.P50P99(times)}");
        }

        Console.WriteLine($"catcher RSS after the calls {catcher.RssKiB / 1024.0:F0} MiB, peak {catcher.PeakKiB / 1024.0:F0} MiB; load {ServerProcess.LoadAverage()}");
        if (smtp is not null)
        {
            await smtp.DisconnectAsync(quit: true);
        }
    }
}
