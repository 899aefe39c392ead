using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Smtpd.ApiBench;

/// <summary>
/// Issue 13 asks for ratios against smtp4dev's API in the same run. Both servers get the same messages over SMTP,
/// then the calls alternate between them (which goes first alternates too), so a burst of load from the shared
/// machine lands on both: the list's first page of 50 and one message by id.
/// </summary>
internal static class PeerBench
{
    public static async Task RunAsync(string smtp4devTool, string db, int stored, int runs, string? cli)
    {
        foreach (var file in new[] { db, db + "-wal", db + "-shm" })
        {
            File.Delete(file);
        }

        await using var smtpd = await ServerProcess.StartSmtpdAsync(db, cli);
        await using var smtp4dev = await ServerProcess.StartSmtp4devAsync(smtp4devTool, stored + 1000);
        using var smtpdHttp = new HttpClient { BaseAddress = smtpd.Http, Timeout = TimeSpan.FromMinutes(2) };
        using var smtp4devHttp = new HttpClient { BaseAddress = smtp4dev.Http, Timeout = TimeSpan.FromMinutes(2) };
        foreach (var server in new[] { smtpd, smtp4dev })
        {
            var fill = Stopwatch.StartNew();
            await Mail.FillAsync(server.Smtp, 1, stored);
            Console.WriteLine($"{server.Name}: stored {stored:N0} messages over SMTP in {fill.Elapsed.TotalSeconds:F1} s (load {ServerProcess.LoadAverage()})");
        }

        // smtp4dev stores in the background after its 250: wait until its list holds them all.
        // A fresh store numbers its messages from 1 (and its list pages at most 1,000 at a time).
        var total = await WaitBench.StoredAsync(smtpdHttp);
        var smtpdIds = total == stored
            ? Enumerable.Range(1, stored).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray()
            : throw new InvalidOperationException($"smtpd lists {total} of {stored} messages");
        var smtp4devIds = await IdsAsync(smtp4devHttp, $"api/messages?page=1&pageSize={stored}", "results", "id", stored);
        var calls = new (string Name, Func<Random, string> Smtpd, Func<Random, string> Smtp4dev)[]
        {
            ("list: first page of 50", _ => "api/v1/messages?limit=50", _ => "api/messages?page=1&pageSize=50"),
            ("message by id", r => $"api/v1/message/{smtpdIds[r.Next(smtpdIds.Length)]}", r => $"api/messages/{smtp4devIds[r.Next(smtp4devIds.Length)]}"),
            // Mailpit's route marks the message read, a committed write; smtp4dev's does not. read=false leaves it unread.
            ("message by id, read=false", r => $"api/v1/message/{smtpdIds[r.Next(smtpdIds.Length)]}?read=false", r => $"api/messages/{smtp4devIds[r.Next(smtp4devIds.Length)]}"),
        };

        Console.WriteLine($"{runs} calls each, interleaved; load {ServerProcess.LoadAverage()}");
        Console.WriteLine($"{"call",-26} {"smtpd p50",9} {"p99",8} {"smtp4dev p50",12} {"p99",8} {"ratio p50",9} {"ratio p99",9}");
        foreach (var (name, smtpdPath, smtp4devPath) in calls)
        {
            var times = new[] { new List<double>(runs), new List<double>(runs) };
            var random = new Random(1);
            for (var i = -10; i < runs; i++)
            {
                // Same random choice of message for both; the order flips each run.
                var seed = random.Next();
                var order = i % 2 == 0 ? new[] { 0, 1 } : [1, 0];
                foreach (var which in order)
                {
                    var (client, path) = which == 0 ? (smtpdHttp, smtpdPath(new Random(seed))) : (smtp4devHttp, smtp4devPath(new Random(seed)));
                    var start = Stopwatch.GetTimestamp();
                    using (var response = await client.GetAsync(path))
                    {
                        response.EnsureSuccessStatusCode();
                        _ = await response.Content.ReadAsByteArrayAsync();
                    }

                    if (i >= 0)
                    {
                        times[which].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    }
                }
            }

            var a = times[0].Order().ToArray();
            var b = times[1].Order().ToArray();
            double p50A = Stats.Percentile(a, 50), p99A = Stats.Percentile(a, 99), p50B = Stats.Percentile(b, 50), p99B = Stats.Percentile(b, 99);
            Console.WriteLine($"{name,-26} {p50A,9:F2} {p99A,8:F2} {p50B,12:F2} {p99B,8:F2} {p50B / p50A,8:F1}x {p99B / p99A,8:F1}x");
        }

        Console.WriteLine($"RSS after: smtpd {smtpd.RssKiB / 1024.0:F0} MiB (peak {smtpd.PeakKiB / 1024.0:F0}), smtp4dev {smtp4dev.RssKiB / 1024.0:F0} MiB (peak {smtp4dev.PeakKiB / 1024.0:F0}); load {ServerProcess.LoadAverage()}");
    }

    private static async Task<string[]> IdsAsync(HttpClient http, string path, string list, string id, int expected)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var page = await http.GetFromJsonAsync<JsonDocument>(path);
            var ids = page!.RootElement.GetProperty(list).EnumerateArray().Select(m => m.GetProperty(id).ToString()).ToArray();
            if (ids.Length >= expected || attempt == 120)
            {
                return ids.Length >= expected ? ids : throw new InvalidOperationException($"{http.BaseAddress} lists {ids.Length} of {expected} messages");
            }

            await Task.Delay(500);
        }
    }
}
