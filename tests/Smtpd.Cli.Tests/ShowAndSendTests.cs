using System.Net;
using System.Net.Sockets;
using System.Text;
using MimeKit;

namespace Smtpd.Cli.Tests;

/// <summary>
/// What a newcomer meets in <c>show</c>, <c>send</c>, <c>export</c> and <c>list</c>: every header, Bcc marked,
/// attachments with sizes and saved safely, the HTML hint, errors in the user's words, and aligned columns.
/// </summary>
public sealed class ShowAndSendTests
{
    [Fact]
    public async Task ShowPrintsEveryHeaderIncludingContentTypeAndContentTransferEncoding()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var message = Mail.Simple("Grüße", body: "Schöne Grüße aus Köln\r\n");
        message.Headers.Add("X-Trace", "folded\r\n value");
        await Mail.SendAsync(catcher.EndPoint, message);
        var id = (await catcher.NextMessageAsync()).GetProperty("id").GetString()!;

        var show = await SmtpdCli.RunAsync(dir, "show", id, "--db", dir.Database);

        Assert.Equal(0, show.ExitCode);
        Assert.Contains("Subject: Grüße\n", show.Output, StringComparison.Ordinal);
        Assert.Contains("Content-Type: text/plain; charset=utf-8\n", show.Output, StringComparison.Ordinal);
        Assert.Matches("\nContent-Transfer-Encoding: (quoted-printable|base64|8bit)\n", show.Output);
        Assert.Contains("X-Trace: folded value\n", show.Output, StringComparison.Ordinal);
        Assert.Contains("Schöne Grüße aus Köln", show.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("--html", show.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendWithHtmlCcAndBccGivesAMessageThatShowMarksListsAndHints()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        await File.WriteAllTextAsync(dir.Combine("report.csv"), "a,b\r\n1,2\r\n", TestContext.Current.CancellationToken);

        var send = await SmtpdCli.RunAsync(dir, "send", "--server", $"127.0.0.1:{catcher.Port}", "--to", "bob@example.com",
            "--cc", "carol@example.com", "--cc", "cecil@example.com", "--bcc", "dave@example.com",
            "--subject", "Both", "--body", "Plain words", "--html", "<p>Rich <b>words</b></p>", "--attach", dir.Combine("report.csv"));
        Assert.True(send.ExitCode == 0, send.ToString());
        var e = await catcher.NextMessageAsync();
        Assert.Equal(["bob@example.com", "carol@example.com", "cecil@example.com", "dave@example.com"], e.GetProperty("to").EnumerateArray().Select(t => t.GetString()));
        var id = e.GetProperty("id").GetString()!;

        var show = await SmtpdCli.RunAsync(dir, "show", id, "--db", dir.Database);
        Assert.Equal(0, show.ExitCode);
        Assert.Contains("Envelope-To:   <bob@example.com>, <carol@example.com>, <cecil@example.com>, <dave@example.com> (Bcc)\n", show.Output, StringComparison.Ordinal);
        Assert.Contains("Cc: carol@example.com, cecil@example.com\n", show.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("\nBcc:", show.Output, StringComparison.Ordinal);
        Assert.Contains("Content-Type: multipart/mixed;", show.Output, StringComparison.Ordinal);
        Assert.Contains("Plain words", show.Output, StringComparison.Ordinal);
        Assert.Contains($"(there is an HTML part too: smtpd show {id} --html)", show.Output, StringComparison.Ordinal);
        Assert.Contains("Attachment: report.csv (text/csv, 10 B)", show.Output, StringComparison.Ordinal);

        var html = await SmtpdCli.RunAsync(dir, "show", id, "--html", "--db", dir.Database);
        Assert.Equal("<p>Rich <b>words</b></p>", html.Output);
    }

    [Fact]
    public async Task SendWithOnlyHtmlGivesAnHtmlMessageAndShowSaysWhereTheBodyIs()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var send = await SmtpdCli.RunAsync(dir, "send", "--server", $"127.0.0.1:{catcher.Port}", "--bcc", "hidden@example.com", "--html", "<h1>Only HTML</h1>");
        Assert.True(send.ExitCode == 0, send.ToString());
        var id = (await catcher.NextMessageAsync()).GetProperty("id").GetString()!;

        var show = await SmtpdCli.RunAsync(dir, "show", id, "--db", dir.Database);
        Assert.Contains("Content-Type: text/html; charset=utf-8\n", show.Output, StringComparison.Ordinal);
        Assert.Contains($"(no text part; the HTML part: smtpd show {id} --html)", show.Output, StringComparison.Ordinal);
        Assert.Contains("<hidden@example.com> (Bcc)", show.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SaveAttachmentsWritesSafeNamesInsideTheFolderAndNeverOverwrites()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var message = Mail.Simple("Files");
        var builder = new BodyBuilder { TextBody = "See attached." };
        builder.Attachments.Add("notes.txt", Encoding.UTF8.GetBytes("first"));
        builder.Attachments.Add("notes.txt", Encoding.UTF8.GetBytes("second"));
        var evil = builder.Attachments.Add("evil.sh", Encoding.UTF8.GetBytes("#!/bin/sh\n"));
        ((MimePart)evil).FileName = "../../evil.sh";
        var hidden = builder.Attachments.Add("x", Encoding.UTF8.GetBytes("dots"));
        ((MimePart)hidden).FileName = "..";
        message.Body = builder.ToMessageBody();
        await Mail.SendAsync(catcher.EndPoint, message);
        var id = (await catcher.NextMessageAsync()).GetProperty("id").GetString()!;
        var target = dir.Combine("saved");
        Directory.CreateDirectory(target);
        await File.WriteAllTextAsync(Path.Combine(target, "notes.txt"), "already here", TestContext.Current.CancellationToken);

        var show = await SmtpdCli.RunAsync(dir, "show", id, "--save-attachments", target, "--db", dir.Database);

        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Contains("Attachment: notes.txt (text/plain, 5 B)", show.Output, StringComparison.Ordinal);
        Assert.Equal("already here", await File.ReadAllTextAsync(Path.Combine(target, "notes.txt"), TestContext.Current.CancellationToken));
        Assert.Equal("first", await File.ReadAllTextAsync(Path.Combine(target, "notes (2).txt"), TestContext.Current.CancellationToken));
        Assert.Equal("second", await File.ReadAllTextAsync(Path.Combine(target, "notes (3).txt"), TestContext.Current.CancellationToken));
        Assert.StartsWith("#!/bin/sh", await File.ReadAllTextAsync(Path.Combine(target, "evil.sh"), TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.Equal("dots", await File.ReadAllTextAsync(Path.Combine(target, "attachment-4"), TestContext.Current.CancellationToken));
        Assert.False(File.Exists(dir.Combine("evil.sh")));
        Assert.Equal(5, Directory.GetFiles(target).Length);
        Assert.Contains($"Saved: {Path.Combine(target, "notes (2).txt")}\n", show.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("show", "abc")]
    [InlineData("export", "1x")]
    [InlineData("delete", "-3")]
    [InlineData("show", "0")]
    public async Task AnIdThatIsNotANumberIsRefusedInPlainWords(string command, string id)
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, command, id, "--db", dir.Database);

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"smtpd: ID: '{id}' is not a message id; use the number list shows, e.g. 1", line);
    }

    [Fact]
    public async Task ABadLimitIsRefusedInPlainWords()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "list", "--limit", "ten", "--db", dir.Database);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("smtpd: --limit: 'ten' is not a whole number of 0 or more\n", result.Stderr);
    }

    [Fact]
    public async Task SendNamesTheServerItCouldNotReachAndWhy()
    {
        using var dir = new TestDirectory();
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }

        var result = await SmtpdCli.RunAsync(dir, "send", "--server", $"127.0.0.1:{port}", "--to", "x@example.com");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"smtpd: send failed: cannot reach 127.0.0.1:{port}: connection refused (is the catcher running on that port?)\n", result.Stderr);
    }

    [Fact]
    public async Task ExportWithoutOutWritesToTheCurrentFolder()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple("to export"));
        var id = (await catcher.NextMessageAsync()).GetProperty("id").GetString()!;

        // The CLI runs with the test's folder as its current directory.
        var export = await SmtpdCli.RunAsync(dir, "export", id, "--db", dir.Database);

        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.True(File.Exists(dir.Combine($"{id}.eml")));
        Assert.Equal($"exported 1 message(s) to {dir.Path}\n", export.Output);
    }

    [Fact]
    public async Task ListKeepsItsColumnsAlignedWithWideCharactersAndShowUsesTheSameLocalTimeWithOffset()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        string[] subjects = ["plain ascii subject", "日本語の件名です", "party 🎉🎉 time", "한국어 제목과 아주 긴 설명이 들어간 제목입니다 정말 길어요", "e\u0301te\u0301 accents"];
        foreach (var subject in subjects)
        {
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject, from: "送信者@example.com"));
            await catcher.NextMessageAsync();
        }

        var tokyo = new Dictionary<string, string> { ["TZ"] = "Asia/Tokyo" };
        var list = await SmtpdCli.RunAsync(dir, ["list", "--db", dir.Database], tokyo);

        Assert.Equal(0, list.ExitCode);
        var lines = list.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(subjects.Length + 1, lines.Length);
        // The SIZE column ends at the same terminal cell on every line, the header's included.
        Assert.Single(lines.Select(Cells).Distinct());
        Assert.Contains(lines, l => l.Contains('…', StringComparison.Ordinal));
        var received = System.Text.RegularExpressions.Regex.Match(lines[^1], @"^1\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+09:00) ");
        Assert.True(received.Success, lines[^1]);

        var show = await SmtpdCli.RunAsync(dir, ["show", "1", "--db", dir.Database], tokyo);
        Assert.Contains($"Received:      {received.Groups[1].Value}\n", show.Output, StringComparison.Ordinal);
    }

    /// <summary>Terminal cells, counted independently of the CLI: East Asian wide letters and emoji take two, a combining accent none.</summary>
    private static int Cells(string line)
    {
        var cells = 0;
        foreach (var rune in line.EnumerateRunes())
        {
            cells += rune.Value switch
            {
                0x0301 => 0,
                >= 0x3040 and <= 0x9FFF or >= 0xAC00 and <= 0xD7A3 or >= 0x1F300 and <= 0x1FAFF => 2,
                _ => 1,
            };
        }

        return cells;
    }
}
