using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using MailKit.Net.Smtp;

namespace Smtpd.ApiBench;

/// <summary>
/// Issue 13: "GET /api/v1/wait answers within 5 ms of the SMTP 250 at p99". Each sample starts a wait for a subject
/// nobody has sent yet, lets it reach the point where it blocks, sends the message with MailKit, and takes the time
/// from the moment the client read the 250 to the moment the whole wait response was read. Negative when the wait
/// answered first (the catcher announces a message after its commit and before its 250). With more than one build
/// (--cli), each gets its own catcher and store and the samples alternate between them, so the machine's load
/// falls on all of them alike.
/// </summary>
internal static class WaitBench
{
    public static async Task RunAsync(string db, int samples, int[] stages, TimeSpan settle, IReadOnlyList<string?> clis)
    {
        var runs = new List<Run>();
        try
        {
            for (var i = 0; i < clis.Count; i++)
            {
                var store = clis.Count == 1 ? db : $"{db}.{i}";
                var catcher = await ServerProcess.StartSmtpdAsync(store, clis[i]);
                var clock = new ReplyClock();
                runs.Add(new Run(clis[i] ?? "this build", catcher, new HttpClient { BaseAddress = catcher.Http, Timeout = TimeSpan.FromSeconds(60) }, clock, await Mail.ConnectAsync(catcher.Smtp, clock)));
                Console.WriteLine($"{runs[^1].Label}: catcher pid {catcher.Id}, {store}");
            }

            var nonce = Environment.TickCount64.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
            Console.WriteLine($"{samples} samples per stage and build, {settle.TotalMilliseconds:F0} ms for each wait to block before the send");
            foreach (var stage in stages)
            {
                foreach (var run in runs)
                {
                    var stored = await StoredAsync(run.Http);
                    if (stored < stage)
                    {
                        var fill = Stopwatch.StartNew();
                        await Mail.FillAsync(run.Catcher.Smtp, (int)stored + 1, stage - (int)stored);
                        Console.WriteLine($"{run.Label}: stored {stage - stored:N0} more over SMTP in {fill.Elapsed.TotalSeconds:F1} s");
                    }

                    run.AfterReply.Clear();
                    run.SendToAnswer.Clear();
                }

                // Let the fill's commits and the count caches settle before timing.
                await Task.Delay(TimeSpan.FromSeconds(2));
                for (var i = -5; i < samples; i++)
                {
                    // Which build goes first alternates.
                    for (var k = 0; k < runs.Count; k++)
                    {
                        var run = runs[(k + Math.Max(i, 0)) % runs.Count];
                        await SampleAsync(run, $"apiwait{nonce}s{stage}n{i + 5:D5}", settle, counted: i >= 0);
                    }
                }

                foreach (var run in runs)
                {
                    var early = run.AfterReply.Count(d => d < 0);
                    Console.WriteLine($"{run.Label}: stage {await StoredAsync(run.Http):N0} stored (load {ServerProcess.LoadAverage()}, catcher RSS {run.Catcher.RssKiB / 1024.0:F1} MiB, peak {run.Catcher.PeakKiB / 1024.0:F1} MiB)");
                    Console.WriteLine($"  250 read -> wait answered, ms: {Stats.Distribution(run.AfterReply)}; {early} of {samples} answered before the 250 was read");
                    Console.WriteLine($"  send start -> wait answered, ms: {Stats.Distribution(run.SendToAnswer)}");
                }
            }
        }
        finally
        {
            foreach (var run in runs)
            {
                run.Smtp.Dispose();
                run.Http.Dispose();
                await run.Catcher.DisposeAsync();
            }
        }
    }

    private static async Task SampleAsync(Run run, string token, TimeSpan settle, bool counted)
    {
        var url = $"api/v1/wait?query={Uri.EscapeDataString("subject:" + token)}&count=1&timeout=30s";
        var waiting = WaitAsync(run.Http, url);
        await Task.Delay(settle);
        if (waiting.IsCompleted)
        {
            throw new InvalidOperationException($"the wait answered before the send: {await waiting}");
        }

        var message = Mail.Ordinary(token.Length, Random.Shared);
        message.Subject = "order " + token;
        var sent = Stopwatch.GetTimestamp();
        await run.Smtp.SendAsync(message);
        var replied = run.Clock.LastReplyTimestamp;
        var id = Mail.StoredId(run.Clock.LastReply);
        var (answered, body) = await waiting;
        if (!body.Contains($"\"ID\":\"{id}\"", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"the wait for {token} answered without message {id}: {body}");
        }

        if (counted)
        {
            var delta = Stopwatch.GetElapsedTime(replied, answered).TotalMilliseconds * (answered >= replied ? 1 : -1);
            run.AfterReply.Add(delta);
            run.SendToAnswer.Add(Stopwatch.GetElapsedTime(sent, answered).TotalMilliseconds);
        }
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

    /// <summary>One build under test: its catcher, its clients and its samples.</summary>
    private sealed record Run(string Label, ServerProcess Catcher, HttpClient Http, ReplyClock Clock, SmtpClient Smtp)
    {
        public List<double> AfterReply { get; } = [];

        public List<double> SendToAnswer { get; } = [];
    }
}
