using System.Buffers;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Smtpd.ApiBench;

/// <summary>
/// Issue 13: "the raw bytes of a 10 MiB message are streamed: RSS stays flat". Stores a message with a 10 MiB text
/// body and one with a 10 MiB attachment, then downloads /raw, /part/{PartID} and /view/{ID}.txt many times, one at a
/// time and four at a time, and reports the catcher's resident memory before and at its peak (VmHWM reset before
/// each phase). A route that buffers the message shows a peak that grows with size and with parallel downloads.
/// </summary>
internal static class DownloadBench
{
    public static async Task RunAsync(string db, int size, int rounds, string? cli, bool openFirst)
    {
        foreach (var file in new[] { db, db + "-wal", db + "-shm" })
        {
            File.Delete(file);
        }

        await using var catcher = await ServerProcess.StartSmtpdAsync(db, cli);
        using var http = new HttpClient { BaseAddress = catcher.Http, Timeout = TimeSpan.FromMinutes(5) };
        var clock = new ReplyClock();
        string textId, attachmentId;
        using (var smtp = await Mail.ConnectAsync(catcher.Smtp, clock))
        {
            await smtp.SendAsync(Mail.LargeText(size));
            textId = Mail.StoredId(clock.LastReply);
            await smtp.SendAsync(Mail.LargeAttachment(size));
            attachmentId = Mail.StoredId(clock.LastReply);
            await smtp.DisconnectAsync(quit: true);
        }

        using var summary = await http.GetFromJsonAsync<JsonDocument>($"api/v1/message/{attachmentId}");
        var partId = summary!.RootElement.GetProperty("Attachments")[0].GetProperty("PartID").GetString();
        var routes = new (string Name, string Path)[]
        {
            ("raw (10 MiB text message)", $"api/v1/message/{textId}/raw"),
            ("raw (10 MiB attachment message)", $"api/v1/message/{attachmentId}/raw"),
            ("part (10 MiB attachment, decoded)", $"api/v1/message/{attachmentId}/part/{partId}"),
            ("view .txt (10 MiB text body)", $"view/{textId}.txt"),
        };

        // The first request of each route warms the JIT and the pools; it is not in the phase it would inflate.
        foreach (var (_, path) in routes)
        {
            await DownloadAsync(http, path);
        }

        if (openFirst)
        {
            // As the inbox does before a download: open the message, whose JSON carries the 10 MiB Text as one
            // string. The garbage it leaves raises the collector's budget, which is when a route that allocates per
            // chunk shows it in RSS.
            using var opened = await http.GetFromJsonAsync<JsonDocument>($"api/v1/message/{textId}");
        }

        Console.WriteLine($"catcher pid {catcher.Id} ({cli ?? "this build"}); {size / 1048576.0:F0} MiB bodies; {rounds} downloads per worker;{(openFirst ? " the message opened first;" : string.Empty)} load {ServerProcess.LoadAverage()}");
        Console.WriteLine($"{"route",-36} {"workers",7} {"bytes each",11} {"MiB/s",8} {"RSS before",10} {"peak",8} {"peak-before",11} {"RSS after",9}  (MiB)");
        foreach (var (name, path) in routes)
        {
            foreach (var workers in new[] { 1, 4 })
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                var before = catcher.RssKiB;
                catcher.ResetPeak();
                var clock2 = Stopwatch.StartNew();
                var lengths = await Task.WhenAll(Enumerable.Range(0, workers).Select(async _ =>
                {
                    long length = 0;
                    for (var i = 0; i < rounds; i++)
                    {
                        length = await DownloadAsync(http, path);
                    }

                    return length;
                }));
                var elapsed = clock2.Elapsed.TotalSeconds;
                var peak = catcher.PeakKiB;
                var after = catcher.RssKiB;
                var each = lengths[0];
                Console.WriteLine($"{name,-36} {workers,7} {each,11:N0} {each * (double)rounds * workers / 1048576.0 / elapsed,8:F0} {before / 1024.0,10:F1} {peak / 1024.0,8:F1} {(peak - before) / 1024.0,11:F1} {after / 1024.0,9:F1}  (load {ServerProcess.LoadAverage()})");
            }
        }

        // The text view must be the message's Text, whatever the route does to stream it. Checked last: the message
        // route builds the 10 MiB Text as one string, and its garbage left before a phase would move that phase's RSS.
        using (var message = await http.GetFromJsonAsync<JsonDocument>($"api/v1/message/{textId}"))
        {
            var expected = System.Text.Encoding.UTF8.GetByteCount(message!.RootElement.GetProperty("Text").GetString()!);
            var view = await DownloadAsync(http, $"view/{textId}.txt");
            Console.WriteLine($"view/{textId}.txt: {view:N0} bytes; the message's Text: {expected:N0} bytes in UTF-8{(view == expected ? string.Empty : " (DIFFERENT)")}");
        }
    }

    /// <summary>Reads the whole body into a reused buffer, so the bench holds no copy and only counts.</summary>
    private static async Task<long> DownloadAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            long total = 0;
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                total += read;
            }

            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
