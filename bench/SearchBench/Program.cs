using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Smtpd.Catcher.Search;
using Smtpd.Catcher.Tests.Search;

// Search over a large store: N synthetic messages in a SQLite file with the store's schema, then the first page (50,
// newest first) of the plain list and of each search, and the count of each search's matches, timed RUNS times each.
var messages = Option("--messages", 100_000);
var runs = Option("--runs", 200);
if (args.Contains("--store"))
{
    // The catcher's own path: the real writer fills the store, the API's store calls are timed (StoreBench.cs).
    Smtpd.SearchBench.StoreBench.Run(messages, runs, args.SkipWhile(a => a != "--db").Skip(1).FirstOrDefault(), args.Contains("--cold") ? "cold" : args.Contains("--arriving") ? "arriving" : null);
    return;
}

var path = args.SkipWhile(a => a != "--db").Skip(1).FirstOrDefault() ?? Path.Combine(Path.GetTempPath(), $"smtpd-search-bench-{messages}.db");
var extraDdl = args.SkipWhile(a => a != "--ddl").Skip(1).FirstOrDefault();

if (!File.Exists(path))
{
    var fill = Stopwatch.StartNew();
    using var store = new SearchTestStore(path);
    store.Execute("PRAGMA journal_mode = WAL");
    var random = new Random(42);
    const int batch = 5_000;
    for (var start = 1; start <= messages; start += batch)
    {
        store.Insert([.. Enumerable.Range(start, Math.Min(batch, messages - start + 1)).Select(id => Synthetic(id, random))]);
    }

    store.Execute("ANALYZE");
    Console.WriteLine($"filled {path}: {messages:N0} messages in {fill.Elapsed.TotalSeconds:F1} s, {new FileInfo(path).Length / 1048576.0:F0} MiB");
}

using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
connection.Open();
if (extraDdl is not null)
{
    Execute(extraDdl);
}

Console.WriteLine($"{messages:N0} messages, {runs} runs each, SQLite {Scalar("SELECT sqlite_version()")}, {Environment.ProcessorCount} cores");
Console.WriteLine($"{"query",-44} {"page p50",9} {"page p99",9} {"count p50",10} {"count p99",10} {"matches",8}");
Time("(plain list)", "");
foreach (var query in new[]
{
    "from:sender42@",                     // one sender of 1,000: ~100 messages
    "from:nobody@nowhere.example",        // no match: the whole table is read
    "to:user7@",                          // one recipient prefix of 5,000
    "subject:\"order 12345\"",            // one subject
    "subject:invoice",                    // a fifth of the subjects
    "invoice",                            // free text, common word
    "zebra",                              // free text, rare word
    "\"lorem ipsum\"",                    // free text phrase
    "code 123456",                        // free text, two words
    "-invoice",                           // negated free text
    "tag:urgent",                         // a tag on 1% of messages
    "is:unread has:attachment",
    "after:2024-06-01 larger:50K",
    "header:X-Mailer=PHPMailer",
    "from:sender42@ invoice is:unread",
})
{
    Time(query, query);
}

return;

void Time(string label, string query)
{
    var search = SqliteSearchCompiler.Compile(query, TimeZoneInfo.Utc);
    using var page = Command($"SELECT id, received_at, mail_from, rcpt_to, client, helo, tls, tls_protocol, auth_user, size, sha256, subject, header_from, header_to, header_date, message_id, has_attachments, dsn_ret, dsn_envid, rcpt_dsn, is_read, header_cc, header_bcc, header_reply_to, attachments, inline_parts, snippet FROM messages WHERE {search.Where} ORDER BY id DESC LIMIT 50", search);
    using var count = Command($"SELECT count(*) FROM messages WHERE {search.Where}", search);
    var pageTimes = Measure(() => { using var reader = page.ExecuteReader(); while (reader.Read()) { for (var i = 0; i < reader.FieldCount; i++) { _ = reader.GetValue(i); } } });
    var countTimes = Measure(() => count.ExecuteScalar());
    Console.WriteLine($"{label,-44} {Percentile(pageTimes, 50),9:F2} {Percentile(pageTimes, 99),9:F2} {Percentile(countTimes, 50),10:F2} {Percentile(countTimes, 99),10:F2} {count.ExecuteScalar(),8}");
}

double[] Measure(Action action)
{
    for (var i = 0; i < 3; i++)
    {
        action();
    }

    var times = new double[runs];
    for (var i = 0; i < runs; i++)
    {
        var start = Stopwatch.GetTimestamp();
        action();
        times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    Array.Sort(times);
    return times;
}

static double Percentile(double[] sorted, int p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100.0 * sorted.Length) - 1)];

SqliteCommand Command(string sql, CompiledSearch search)
{
    var command = connection.CreateCommand();
    command.CommandText = sql;
    search.AddParametersTo(command);
    command.Prepare();
    return command;
}

void Execute(string sql)
{
    using var command = connection.CreateCommand();
    command.CommandText = sql;
    command.ExecuteNonQuery();
}

object? Scalar(string sql)
{
    using var command = connection.CreateCommand();
    command.CommandText = sql;
    return command.ExecuteScalar();
}

int Option(string name, int fallback)
{
    var value = args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
    return value is null ? fallback : int.Parse(value, CultureInfo.InvariantCulture);
}

internal static partial class Program
{
    internal static TestMessage Synthetic(int id, Random random)
    {
        var sender = $"sender{random.Next(1000)}@example{random.Next(20)}.com";
        var recipients = Enumerable.Range(0, 1 + random.Next(3)).Select(_ => $"user{random.Next(5000)}@corp{random.Next(50)}.example").ToArray();
        var kind = random.Next(5);
        var subject = kind switch
        {
            0 => $"Invoice {id} for order {random.Next(100_000)}",
            1 => $"Your one-time code is {random.Next(1_000_000):D6}",
            2 => $"Welcome, {Words(random, 2)}",
            3 => $"Re: {Words(random, 4)}",
            _ => $"Order {id} shipped",
        };
        return new TestMessage(id)
        {
            ReceivedAt = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(id * 3),
            MailFrom = sender,
            HeaderFrom = $"Sender {random.Next(1000)} <{sender}>",
            HeaderTo = string.Join(", ", recipients.Take(1)),
            HeaderCc = recipients.Length > 1 ? recipients[1] : null,
            Recipients = recipients,
            Subject = subject,
            Body = $"{subject}. {Words(random, 50 + random.Next(250))}" + (random.Next(1000) == 0 ? " zebra" : ""),
            Size = 1_000 + random.Next(200_000),
            IsRead = random.Next(2) == 0,
            Attachments = random.Next(10) == 0 ? 1 : 0,
            MessageId = $"{id}.{random.Next()}@example.com",
            Tags = random.Next(100) == 0 ? ["urgent"] : [],
            Headers = [("X-Mailer", random.Next(4) == 0 ? "PHPMailer 6.9" : "smtpd-bench"), ("Subject", subject), ("From", sender)],
        };
    }

    private static string Words(Random random, int count) =>
        string.Join(' ', Enumerable.Range(0, count).Select(_ => Vocabulary[random.Next(Vocabulary.Length)]));

    // 200 ordinary words plus "lorem ipsum": enough variety for an FTS index that looks like mail, deterministic.
    private static readonly string[] Vocabulary = [.. """
        the of and to in is you that it he was for on are as with his they at be this have from or one had by word but not
        what all were we when your can said there use an each which she do how their if will up other about out many then
        them these so some her would make like him into time has look two more write go see number no way could people my
        than first water been call who oil its now find long down day did get come made may part over new sound take only
        little work know place year live me back give most very after thing our just name good sentence man think say great
        where help through much before line right too mean old any same tell boy follow came want show also around form three
        small set put end does another well large must big even such because turn here why ask went men read need land
        different home us move try kind hand picture again change off play spell air away animal house point page letter
        mother answer found study still learn should america world high every near add food between own below country plant
        last school father keep tree never start city earth eye light thought head under story saw left few while along
        might close something seem next hard open example begin life always those both paper together got group often run
        lorem ipsum
        """.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries)];
}
