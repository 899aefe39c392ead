using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using Smtpd.Catcher;
using Smtpd.Catcher.Search;
using Smtpd.Catcher.Storage;

namespace Smtpd.SearchBench;

/// <summary>
/// The catcher's own path at scale (issue 13 "Performance"): N MIME messages analysed by MessageAnalyzer and committed
/// by the real StoreWriter, then the HTTP API's store calls, each on a pooled connection as a request makes them: the
/// first list page (with its counts), a message by id, and the first page of searches (with their counts).
/// </summary>
internal static class StoreBench
{
    public static void Run(int messages, int runs, string? path, string? mode = null)
    {
        path ??= Path.Combine(Path.GetTempPath(), $"smtpd-store-bench-{messages}.db");
        if (!File.Exists(path))
        {
            Fill(path, messages);
        }

        // Opening for writing brings the store up to date (the change counter, StoreSchema) as the catcher does.
        StoreSchema.OpenForWriting(path).Dispose();
        Console.WriteLine($"{messages:N0} messages in {path} ({new FileInfo(path).Length / 1048576.0:F0} MiB), {runs} runs each, {Environment.ProcessorCount} cores, mode {mode ?? "static"}");
        // What happens to the store before each call, untimed:
        //  --cold: another connection flips a read flag, so every call counts every match (no cache can help);
        //  --arriving: a new message is committed through the real writer, as while a catcher receives mail.
        using var ticker = mode == "cold" ? new SqliteConnection($"Data Source={path};Pooling=False") : null;
        using var writer = mode == "arriving" ? new StoreWriter(path, new StoreRetention(0, null, 0), TimeProvider.System) : null;
        if (ticker is not null)
        {
            ticker.Open();
            Tick = () => StoreSchema.Execute(ticker, "UPDATE messages SET is_read = 1 - is_read WHERE id = 1");
        }
        else if (writer is not null)
        {
            var arrivals = new Random(11);
            var next = messages + 1;
            Tick = () =>
            {
                var (content, envelope) = Synthetic(next++, arrivals);
                var analyzed = MessageAnalyzer.AnalyzeLocal(content, envelope);
                writer.StoreAsync(analyzed.Record, analyzed.Content, () => new MemoryStream(content, writable: false)).GetAwaiter().GetResult();
            };
        }

        Console.WriteLine($"{"call",-44} {"p50 ms",9} {"p99 ms",9} {"matches",8}");
        var random = new Random(7);
        Time("list: first page of 50, with counts", runs, path, store => store.Page(null, 0, 50).Matched);
        Time("message by id", runs, path, store => store.FindWithTags(1 + random.Next(messages)) is null ? 0 : 1);
        foreach (var query in new[] { "from:sender42@", "from:nobody@nowhere.example", "subject:invoice", "subject:\"order 12345\"", "invoice", "zebra", "\"lorem ipsum\"" })
        {
            var compiled = SearchQueryCompiler.Instance.Compile(query, TimeZoneInfo.Utc);
            Time($"search {query}", runs, path, store => store.Page(compiled, 0, 50).Matched);
        }

        SqliteConnection.ClearAllPools();
        writer?.CloseAsync().GetAwaiter().GetResult();
    }

    /// <summary>Runs before each timed call, untimed (<c>--cold</c>).</summary>
    private static Action Tick { get; set; } = static () => { };

    private static void Time(string label, int runs, string path, Func<MessageStore, long> call)
    {
        long matches = 0;
        var times = new double[runs];
        for (var i = -3; i < runs; i++)
        {
            Tick();
            var start = Stopwatch.GetTimestamp();
            using (var store = MessageStore.OpenPooled(path))
            {
                matches = call(store);
            }

            if (i >= 0)
            {
                times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }

        Array.Sort(times);
        Console.WriteLine($"{label,-44} {Percentile(times, 50),9:F2} {Percentile(times, 99),9:F2} {matches,8}");
    }

    private static double Percentile(double[] sorted, int p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100.0 * sorted.Length) - 1)];

    private static void Fill(string path, int messages)
    {
        var fill = Stopwatch.StartNew();
        using (var writer = new StoreWriter(path, new StoreRetention(0, null, 0), TimeProvider.System))
        {
            var random = new Random(42);
            const int Group = 500;
            for (var start = 1; start <= messages; start += Group)
            {
                var tasks = new List<Task<long>>(Group);
                for (var id = start; id < start + Group && id <= messages; id++)
                {
                    var (content, envelope) = Synthetic(id, random);
                    var analyzed = MessageAnalyzer.AnalyzeLocal(content, envelope);
                    tasks.Add(writer.StoreAsync(analyzed.Record, analyzed.Content, () => new MemoryStream(content, writable: false)));
                }

                Task.WaitAll(tasks);
            }

            writer.CloseAsync().GetAwaiter().GetResult();
        }

        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            // Read flags and tags as a used mailbox has them.
            command.CommandText = "UPDATE messages SET is_read = 1 WHERE id % 2 = 0; INSERT INTO message_tags (message_id, tag) SELECT id, 'urgent' FROM messages WHERE id % 100 = 0; ANALYZE;";
            command.ExecuteNonQuery();
        }

        Console.WriteLine($"filled {path}: {messages:N0} messages through StoreWriter in {fill.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>The synthetic mail of Program.Synthetic, as MIME: 1,000 senders, 5,000 recipients, five kinds of subject.</summary>
    private static (byte[] Content, MessageRecord Envelope) Synthetic(int id, Random random)
    {
        var message = Program.Synthetic(id, random);
        var text = new StringBuilder()
            .Append("From: ").Append(message.HeaderFrom).Append("\r\n")
            .Append("To: ").Append(message.HeaderTo).Append("\r\n");
        if (message.HeaderCc is { } cc)
        {
            text.Append("Cc: ").Append(cc).Append("\r\n");
        }

        text.Append("Subject: ").Append(message.Subject).Append("\r\n")
            .Append("Message-ID: <").Append(message.MessageId).Append(">\r\n")
            .Append("Date: ").Append(message.ReceivedAt.ToString("r", CultureInfo.InvariantCulture)).Append("\r\n")
            .Append("X-Mailer: ").Append(message.Headers[0].Value).Append("\r\n")
            .Append("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
            .Append(message.Body).Append("\r\n");
        var content = Encoding.UTF8.GetBytes(text.ToString());
        var envelope = new MessageRecord
        {
            ReceivedAt = message.ReceivedAt,
            MailFrom = message.MailFrom,
            Recipients = message.Recipients,
            Client = "127.0.0.1:40000",
            Size = content.Length,
            Sha256 = string.Empty,
        };
        return (content, envelope);
    }
}
