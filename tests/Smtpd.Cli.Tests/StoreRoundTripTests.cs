using System.Net;
using System.Text;
using System.Text.Json;
using MimeKit;

namespace Smtpd.Cli.Tests;

/// <summary>Messages go in with real clients and come back out through the JSON events, list, show and export.</summary>
public sealed class StoreRoundTripTests
{
    [Fact]
    public async Task AMessageSentWithMailKitComesBackByteForByteThroughTheEventListShowAndExport()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var message = Mail.Simple(subject: "Quarterly report", to: "bob@example.com");
        message.Bcc.Add(MailboxAddress.Parse("hidden@example.org"));
        var builder = new BodyBuilder { TextBody = "See attached.\r\n", HtmlBody = "<p>See <b>attached</b>.</p>" };
        builder.Attachments.Add("report.csv", Encoding.UTF8.GetBytes("a,b\r\n1,2\r\n"), new ContentType("text", "csv"));
        message.Body = builder.ToMessageBody();

        var reply = await Mail.SendAsync(catcher.EndPoint, message);
        var e = await catcher.NextMessageAsync();

        var id = e.GetProperty("id").GetString()!;
        Assert.Contains($"stored as {id}", reply, StringComparison.Ordinal);
        Assert.Equal("alice@example.com", e.GetProperty("from").GetString());
        // The Bcc recipient is in the envelope only: MailKit leaves it out of the headers.
        Assert.Equal(["bob@example.com", "hidden@example.org"], e.GetProperty("to").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal("Quarterly report", e.GetProperty("subject").GetString());
        Assert.False(e.GetProperty("tls").GetBoolean());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("user").ValueKind);
        Assert.StartsWith("127.0.0.1:", e.GetProperty("client").GetString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(e.GetProperty("helo").GetString()));
        Assert.True(DateTimeOffset.TryParse(e.GetProperty("receivedAt").GetString(), System.Globalization.CultureInfo.InvariantCulture, out _));

        var raw = await SmtpdCli.RunAsync(dir, "show", id, "--raw", "--db", dir.Database);
        Assert.Equal(0, raw.ExitCode);
        Assert.Equal(e.GetProperty("size").GetInt64(), raw.Stdout.LongLength);
        Assert.Equal(e.GetProperty("sha256").GetString(), Mail.Sha256(raw.Stdout));
        using (var parsed = MimeMessage.Load(new MemoryStream(raw.Stdout), TestContext.Current.CancellationToken))
        {
            Assert.Equal("Quarterly report", parsed.Subject);
            Assert.Empty(parsed.Bcc);
            Assert.Single(parsed.Attachments);
        }

        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.Equal(0, list.ExitCode);
        var listed = Assert.Single(JsonDocument.Parse(list.Output).RootElement.EnumerateArray());
        Assert.Equal(id, listed.GetProperty("id").GetString());
        Assert.Equal(e.GetProperty("sha256").GetString(), listed.GetProperty("sha256").GetString());
        Assert.Equal(e.GetProperty("size").GetInt64(), listed.GetProperty("size").GetInt64());
        Assert.True(listed.GetProperty("hasAttachments").GetBoolean());
        Assert.Equal(message.MessageId, listed.GetProperty("messageId").GetString());
        Assert.Contains("alice@example.com", listed.GetProperty("headerFrom").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("2025-01-31T14:00:00", listed.GetProperty("date").GetString(), StringComparison.Ordinal);

        var export = await SmtpdCli.RunAsync(dir, "export", id, "--out", dir.Combine("out"), "--db", dir.Database);
        Assert.Equal(0, export.ExitCode);
        Assert.Equal(raw.Stdout, await File.ReadAllBytesAsync(dir.Combine("out", id + ".eml"), TestContext.Current.CancellationToken));

        var show = await SmtpdCli.RunAsync(dir, "show", id, "--db", dir.Database);
        Assert.Equal(0, show.ExitCode);
        Assert.Contains("Subject: Quarterly report", show.Output, StringComparison.Ordinal);
        Assert.Contains("<hidden@example.org>", show.Output, StringComparison.Ordinal);
        Assert.Contains("See attached.", show.Output, StringComparison.Ordinal);
        Assert.Contains("report.csv", show.Output, StringComparison.Ordinal);

        var html = await SmtpdCli.RunAsync(dir, "show", id, "--html", "--db", dir.Database);
        Assert.Equal("<p>See <b>attached</b>.</p>", html.Output);
    }

    [Fact]
    public async Task TheStoreKeepsTheExactBytesAfterDotUnstuffingIncludingBare8bitAndAMissingFinalLineEnd()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var _ = client;
        Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("EHLO raw.example"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<> BODY=8BITMIME"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<a@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await client.CommandAsync("DATA"), StringComparison.Ordinal);
        var wire = "Subject: dots\r\n\r\n..leading dot\r\n.\tdot tab\r\ncaf\u00e9 \u2713\r\nno final newline\r\n.\r\n";
        var reply = await client.CommandAsync(wire[..^2]);
        Assert.StartsWith("250 ", reply, StringComparison.Ordinal);

        var expected = Encoding.UTF8.GetBytes("Subject: dots\r\n\r\n.leading dot\r\n\tdot tab\r\ncaf\u00e9 \u2713\r\nno final newline\r\n");
        var e = await catcher.NextMessageAsync();
        Assert.Equal("", e.GetProperty("from").GetString());
        Assert.Equal(Mail.Sha256(expected), e.GetProperty("sha256").GetString());
        Assert.Equal("raw.example", e.GetProperty("helo").GetString());
        var raw = await SmtpdCli.RunAsync(dir, "show", e.GetProperty("id").GetString()!, "--raw", "--db", dir.Database);
        Assert.Equal(expected, raw.Stdout);
    }

    [Fact]
    public async Task ListFiltersBySenderRecipientSubjectAndTimeAndShowsTheNewestFirst()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple("Invoice 1", from: "billing@shop.example", to: "carol@example.com"));
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple("Welcome aboard", from: "hello@shop.example", to: "dave@example.com"));
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple("Invoice 2", from: "billing@shop.example", to: "dave@example.com"));
        for (var i = 0; i < 3; i++)
        {
            await catcher.NextMessageAsync();
        }

        async Task<string[]> Subjects(params string[] filters)
        {
            var result = await SmtpdCli.RunInProcessAsync(["list", "--json", "--db", dir.Database, .. filters]);
            Assert.True(result.ExitCode == 0, result.ToString());
            return JsonDocument.Parse(result.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("subject").GetString()!).ToArray();
        }

        Assert.Equal(["Invoice 2", "Welcome aboard", "Invoice 1"], await Subjects());
        Assert.Equal(["Invoice 2", "Invoice 1"], await Subjects("--from", "BILLING@"));
        Assert.Equal(["Invoice 2", "Welcome aboard"], await Subjects("--to", "dave"));
        Assert.Equal(["Invoice 2", "Invoice 1"], await Subjects("--subject", "invoice"));
        Assert.Equal(["Invoice 2"], await Subjects("--subject", "invoice", "--to", "dave"));
        Assert.Equal(3, (await Subjects("--since", "10m")).Length);
        Assert.Empty(await Subjects("--since", DateTimeOffset.Now.AddMinutes(5).ToString("yyyy-MM-ddTHH:mm:ss", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(["Invoice 2"], await Subjects("--limit", "1"));

        var table = await SmtpdCli.RunAsync(dir, "list", "--db", dir.Database);
        var lines = table.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Contains("SUBJECT", lines[0], StringComparison.Ordinal);
        Assert.Contains("Invoice 2", lines[1], StringComparison.Ordinal);
        Assert.Contains("billing@shop.example", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeleteRemovesTheNamedMessagesAndClearRemovesTheRest()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple($"m{i}"));
            ids.Add((await catcher.NextMessageAsync()).GetProperty("id").GetString()!);
        }

        var delete = await SmtpdCli.RunAsync(dir, "delete", ids[0], ids[2], "--db", dir.Database);
        Assert.Equal(0, delete.ExitCode);
        Assert.Contains("deleted 2", delete.Output, StringComparison.Ordinal);
        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.Equal([ids[1]], JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("id").GetString()));

        var missing = await SmtpdCli.RunAsync(dir, "delete", ids[0], "--db", dir.Database);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains($"no message {ids[0]}", missing.Stderr, StringComparison.Ordinal);

        // The running catcher keeps storing after another process changed the store.
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple("after delete"));
        await catcher.NextMessageAsync();

        var clear = await SmtpdCli.RunAsync(dir, "clear", "--db", dir.Database);
        Assert.Equal(0, clear.ExitCode);
        Assert.Contains("deleted 2", clear.Output, StringComparison.Ordinal);
        list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.Empty(JsonDocument.Parse(list.Output).RootElement.EnumerateArray());
        var show = await SmtpdCli.RunAsync(dir, "show", ids[1], "--db", dir.Database);
        Assert.Equal(1, show.ExitCode);
    }

    [Fact]
    public async Task ExportAllWritesOneEmlFilePerMessageWithTheStoredBytes()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var hashes = new Dictionary<string, string>();
        for (var i = 0; i < 3; i++)
        {
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple($"export {i}"));
            var e = await catcher.NextMessageAsync();
            hashes[e.GetProperty("id").GetString()!] = e.GetProperty("sha256").GetString()!;
        }

        var export = await SmtpdCli.RunAsync(dir, "export", "--all", "--out", dir.Combine("eml"), "--db", dir.Database);
        Assert.Equal(0, export.ExitCode);
        var files = Directory.GetFiles(dir.Combine("eml"));
        Assert.Equal(hashes.Keys.Order().Select(id => id + ".eml"), files.Select(Path.GetFileName).Order());
        foreach (var (id, hash) in hashes)
        {
            Assert.Equal(hash, Mail.Sha256(await File.ReadAllBytesAsync(dir.Combine("eml", id + ".eml"), TestContext.Current.CancellationToken)));
        }

        var neither = await SmtpdCli.RunAsync(dir, "export", "--out", dir.Combine("eml2"), "--db", dir.Database);
        Assert.Equal(2, neither.ExitCode);
    }

    [Fact]
    public async Task ALargeMessageIsStreamedIntoTheStoreAndBackWithoutBeingHeldInMemory()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--max-size", "100M");
        var baseline = PeakResidentKiB(catcher.Process);

        // 48 MiB of base64 lines: far more than any buffer the catcher should hold at once.
        var payload = new byte[36 * 1024 * 1024];
        new Random(42).NextBytes(payload);
        var message = Mail.Simple("big");
        var builder = new BodyBuilder { TextBody = "large attachment follows" };
        builder.Attachments.Add("blob.bin", payload);
        message.Body = builder.ToMessageBody();
        await Mail.SendAsync(catcher.EndPoint, message);
        var e = await catcher.NextMessageAsync(TimeSpan.FromSeconds(60));
        var peak = PeakResidentKiB(catcher.Process);
        Assert.True(e.GetProperty("size").GetInt64() > 48L * 1024 * 1024);

        var raw = await SmtpdCli.RunAsync(dir, "show", e.GetProperty("id").GetString()!, "--raw", "--db", dir.Database);
        Assert.Equal(e.GetProperty("size").GetInt64(), raw.Stdout.LongLength);
        Assert.Equal(e.GetProperty("sha256").GetString(), Mail.Sha256(raw.Stdout));
        // The whole message in memory would add 48 MiB to the peak; chunks and the core's spool buffer add little.
        Assert.True(peak - baseline < 32 * 1024, $"peak RSS grew by {(peak - baseline) / 1024} MiB (baseline {baseline / 1024} MiB)");
    }

    [Fact]
    public async Task WithJsonStdoutCarriesOnlyJsonEvents()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--verbose");
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple());
        await catcher.NextMessageAsync();
        Assert.Equal(0, await catcher.StopAsync());
        var lines = catcher.StdoutLines;
        // The HTTP API's listening event, the SMTP listener's, and the message.
        Assert.Equal(3, lines.Count);
        foreach (var line in lines)
        {
            using var document = JsonDocument.Parse(line);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        }

        // The transcript went to stderr instead.
        Assert.Contains("C: MAIL FROM:<alice@example.com>", catcher.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutJsonTheCatcherPrintsAStartupLineAndOneUncolouredLinePerMessage()
    {
        using var dir = new TestDirectory();
        await using var catcher = await StartHumanAsync(dir);
        await Mail.SendAsync(catcher.endpoint, Mail.Simple("Plain output", to: "erin@example.com"));
        var line = await catcher.lines.ReadAsync(TestContext.Current.CancellationToken);
        Assert.Contains("#1", line, StringComparison.Ordinal);
        Assert.Contains("alice@example.com", line, StringComparison.Ordinal);
        Assert.Contains("erin@example.com", line, StringComparison.Ordinal);
        Assert.Contains("Plain output", line, StringComparison.Ordinal);
        Assert.Contains(" B", line, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', line);
        Assert.DoesNotContain('\u001b', catcher.startup);
        Assert.Contains(dir.Database, catcher.startup, StringComparison.Ordinal);
        SmtpdCli.Signal(catcher.process, "INT");
        await catcher.process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, catcher.process.ExitCode);
    }

    private static async Task<HumanCatcher> StartHumanAsync(TestDirectory dir)
    {
        var process = System.Diagnostics.Process.Start(SmtpdCli.StartInfo(dir, ["--listen", "127.0.0.1:0", "--db", dir.Database]))!;
        var lines = System.Threading.Channels.Channel.CreateUnbounded<string>();
        _ = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } l)
            {
                lines.Writer.TryWrite(l);
            }

            lines.Writer.TryComplete();
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var startup = await lines.Reader.ReadAsync(timeout.Token);
        var match = System.Text.RegularExpressions.Regex.Match(startup, @"listening on (\S+?),");
        Assert.True(match.Success, startup);
        return new HumanCatcher(process, IPEndPoint.Parse(match.Groups[1].Value), startup, lines.Reader);
    }

    private sealed record HumanCatcher(System.Diagnostics.Process process, IPEndPoint endpoint, string startup, System.Threading.Channels.ChannelReader<string> lines) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            if (!process.HasExited)
            {
                process.Kill(true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }
    }

    private static long PeakResidentKiB(System.Diagnostics.Process process)
    {
        var line = File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
