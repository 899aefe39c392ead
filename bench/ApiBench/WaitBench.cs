using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Smtpd.ApiBench;

/// <summary>
/// Issue 13: "GET /api/v1/wait answers within 5 ms of the SMTP 250 at p99". Each sample starts a wait for a subject
/// nobody has sent yet, lets it reach the point where it blocks, sends the message with MailKit, and takes the time
/// from the moment the client read the 250 to the moment the whole wait response was read. Negative when the wait
/// answered first (the catcher announces a message after its commit and before its 250).
/// </summary>
internal static class WaitBench
{
    public static async Task RunAsync(string db, int samples, int[] stages, TimeSpan settle)
    {
        await using var catcher = await ServerProcess.StartSmtpdAsync(db);
        using var http = new HttpClient { BaseAddress = catcher.Http, Timeout = TimeSpan.FromSeconds(60) };
        var clock = new ReplyClock();
        using var smtp = await Mail.ConnectAsync(catcher.Smtp, clock);
        var nonce = Environment.TickCount64.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine($"catcher pid {catcher.Id}, {db}, {samples} samples per stage, {settle.TotalMilliseconds:F0} ms for each wait to block before the send");
        foreach (var stage in stages)
        {
            var stored = await StoredAsync(http);
            if (stored < stage)
            {
                var fill = Stopwatch.StartNew();
                await Mail.FillAsync(catcher.Smtp, (int)stored + 1, stage - (int)stored);
                Console.WriteLine($"stored {stage - stored:N0} more over SMTP in {fill.Elapsed.TotalSeconds:F1} s");
                stored = await StoredAsync(http);
            }

            // Let the fill's commits and the count caches settle before timing.
            await Task.Delay(TimeSpan.FromSeconds(2));
            var afterWait = new List<double>(samples);
            var sendToAnswer = new List<double>(samples);
            var early = 0;
            for (var i = -5; i < samples; i++)
            {
                var token = $"apiwait{nonce}s{stage}n{i + 5:D5}";
                var url = $"api/v1/wait?query={Uri.EscapeDataString("subject:" + token)}&count=1&timeout=30s";
                var waiting = WaitAsync(http, url);
                await Task.Delay(settle);
                if (waiting.IsCompleted)
                {
                    throw new InvalidOperationException($"the wait answered before the send: {await waiting}");
                }

                var message = Mail.Ordinary(i + 5, Random.Shared);
                message.Subject = "order " + token;
                var sent = Stopwatch.GetTimestamp();
                await smtp.SendAsync(message);
                var replied = clock.LastReplyTimestamp;
                var id = Mail.StoredId(clock.LastReply);
                var (answered, body) = await waiting;
                if (!body.Contains($"\"ID\":\"{id}\"", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException($"the wait for {token} answered without message {id}: {body}");
                }

                if (i >= 0)
                {
                    var delta = Stopwatch.GetElapsedTime(replied, answered).TotalMilliseconds * (answered >= replied ? 1 : -1);
                    afterWait.Add(delta);
                    sendToAnswer.Add(Stopwatch.GetElapsedTime(sent, answered).TotalMilliseconds);
                    early += delta < 0 ? 1 : 0;
                }
            }

            Console.WriteLine($"stage {stored:N0} stored (load {ServerProcess.LoadAverage()}, catcher RSS {catcher.RssKiB / 1024.0:F1} MiB, peak {catcher.PeakKiB / 1024.0:F1} MiB)");
            Console.WriteLine($"  250 read -> wait answered, ms: {Stats.Distribution(afterWait)}; {early} of {samples} answered before the 250 was read");
            Console.WriteLine($"  send start -> wait answered, ms: {Stats.Distribution(sendToAnswer)}");
        }

        await smtp.DisconnectAsync(quit: true);
    }

    private static async Task<(long Timestamp, string Body)> WaitAsync(HttpClient http, string url)
    {
        using var response = await http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        var at = Stopwatch.GetTimestamp();
        return response.IsSuccessStatusCode ? (at, body) : throw new InvalidOperationException($"{(int)response.StatusCode}: {body}");
    }

    public static async Task<long> StoredAsync(HttpClient http)
    {
        using var list = await http.GetFromJsonAsync<JsonDocument>("api/v1/messages?limit=1");
        return list!.RootElement.GetProperty("total").GetInt64();
    }
}
