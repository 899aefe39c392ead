using System.Text;
using System.Text.Json;

namespace Smtpd.Cli.Tests;

/// <summary>
/// <c>--bare-line-endings</c>: the catcher normalizes bare LF and CR by default, so Python's
/// <c>smtplib.sendmail(..., EmailMessage().as_bytes())</c> gets its mail caught; a smuggling attempt still gives at
/// most one message, and a lone dot ended by a bare LF gets an answer at once. Raw sockets send the exact bytes.
/// </summary>
public sealed class BareLineEndingTests
{
    private const string BareEndMarker421 = "421 4.5.0 Lone dot next to a bare CR or LF; end data with <CR><LF>.<CR><LF> (RFC 5321 4.1.1.4); closing connection";

    // What smtplib sends for a bytes message with LF line ends: leading dots doubled after each LF, then
    // "\r\n.\r\n" after the message's own final LF.
    private const string PythonStyleData = "From: app@example.com\nTo: dev@example.com\nSubject: from Python\n\nline one\n..hidden dot\nlast line\n\r\n.\r\n";

    [Fact]
    public async Task AMessageWithBareLineFeedsIsStoredAndShowRawGivesCrLf()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);

        await using var client = await OpenTransactionAsync(catcher);
        await client.SendAsync(PythonStyleData);
        Assert.StartsWith("250 ", await client.ReadReplyAsync(), StringComparison.Ordinal);

        var id = (await catcher.NextMessageAsync()).GetProperty("id").GetString()!;
        var raw = await SmtpdCli.RunAsync(dir, "show", id, "--raw", "--db", dir.Database);
        Assert.Equal(0, raw.ExitCode);
        Assert.Equal("From: app@example.com\r\nTo: dev@example.com\r\nSubject: from Python\r\n\r\nline one\r\n.hidden dot\r\nlast line\r\n\r\n", Encoding.UTF8.GetString(raw.Stdout));
    }

    [Theory]
    [InlineData("--bare-line-endings", null)]
    [InlineData(null, "SMTPD_BARE_LINE_ENDINGS")]
    [InlineData(null, "config")]
    public async Task RejectRefusesTheSameMessageWith550FromTheFlagTheEnvironmentOrTheConfigFile(string? flag, string? source)
    {
        using var dir = new TestDirectory();
        var args = new List<string>();
        var environment = new Dictionary<string, string>();
        if (flag is not null)
        {
            args.AddRange([flag, "reject"]);
        }
        else if (source == "config")
        {
            await File.WriteAllTextAsync(dir.Combine("smtpd.conf"), "bare-line-endings = reject\n", TestContext.Current.CancellationToken);
            args.AddRange(["--config", dir.Combine("smtpd.conf")]);
        }
        else
        {
            environment[source!] = "Reject";
        }

        await using var catcher = await CatcherProcess.StartAsync(dir, args, environment);
        await using var client = await OpenTransactionAsync(catcher);
        await client.SendAsync(PythonStyleData);

        Assert.Equal("550 5.6.0 Message contains bare CR or LF; lines must end with CRLF (RFC 5321 2.3.8)", await client.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Empty(await ListAsync(dir));
    }

    [Theory]
    [InlineData("normalize")]
    [InlineData("reject")]
    public async Task ASmuggledTransactionAfterABareLfDotNeverRunsAndLeavesAtMostOneMessage(string policy)
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--bare-line-endings", policy);

        await using var client = await OpenTransactionAsync(catcher);
        await client.SendAsync("Subject: real\r\n\r\nA\n.\nMAIL FROM:<smuggled@evil.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n.\r\n");

        // One answer for the content, and the connection closes before anything after the lone dot is read.
        Assert.Equal(BareEndMarker421, await client.ReadReplyAsync());
        var closed = await Record.ExceptionAsync(() => client.ReadReplyAsync());
        Assert.True(closed is IOException or System.Net.Sockets.SocketException, $"Expected the connection closed, got {closed}");
        var messages = await ListAsync(dir);
        Assert.True(messages.Count <= 1);
        Assert.DoesNotContain(messages, m => m.GetProperty("from").GetString() == "smuggled@evil.example");
    }

    [Theory]
    [InlineData("Subject: netcat\n\nbody\n.\n")]
    [InlineData("Subject: netcat\r\n\r\nbody\r\n.\n")]
    public async Task ALoneDotEndedByABareLfGetsAnAnswerAtOnceNotAtTheTimeout(string data)
    {
        using var dir = new TestDirectory();
        // The default timeout is 5 minutes; RawSmtpClient gives up on a reply after 30 seconds.
        await using var catcher = await CatcherProcess.StartAsync(dir);

        await using var client = await OpenTransactionAsync(catcher);
        await client.SendAsync(data);

        Assert.Equal(BareEndMarker421, await client.ReadReplyAsync());
    }

    private static async Task<RawSmtpClient> OpenTransactionAsync(CatcherProcess catcher)
    {
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("EHLO python.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<app@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<dev@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await client.CommandAsync("DATA"), StringComparison.Ordinal);
        return client;
    }

    private static async Task<List<JsonElement>> ListAsync(TestDirectory dir)
    {
        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.Equal(0, list.ExitCode);
        return [.. JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(e => e.Clone())];
    }
}
