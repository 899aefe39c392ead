namespace Smtpd.Cli.Tests;

/// <summary><c>smtpd send</c> against a running catcher.</summary>
public sealed class SendCommandTests
{
    [Fact]
    public async Task SendDeliversAMessageWithRecipientsSubjectBodyAndAttachment()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        await File.WriteAllTextAsync(dir.Combine("notes.txt"), "attached notes", TestContext.Current.CancellationToken);
        var result = await SmtpdCli.RunAsync(dir, "send", "--server", $"127.0.0.1:{catcher.Port}", "--from", "demo@example.com",
            "--to", "one@example.com", "--to", "two@example.com", "--subject", "Demo", "--body", "Hello there", "--attach", dir.Combine("notes.txt"));
        Assert.True(result.ExitCode == 0, result.ToString());
        var e = await catcher.NextMessageAsync();
        Assert.Contains($"stored as {e.GetProperty("id").GetString()}", result.Output, StringComparison.Ordinal);
        Assert.Equal("demo@example.com", e.GetProperty("from").GetString());
        Assert.Equal(["one@example.com", "two@example.com"], e.GetProperty("to").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal("Demo", e.GetProperty("subject").GetString());

        var show = await SmtpdCli.RunAsync(dir, "show", e.GetProperty("id").GetString()!, "--db", dir.Database);
        Assert.Contains("Hello there", show.Output, StringComparison.Ordinal);
        Assert.Contains("notes.txt", show.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendUsesStartTlsAndAuthWhenAsked()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--tls-self-signed", "--require-tls", "--auth", "demo:pw", "--require-auth");
        var result = await SmtpdCli.RunAsync(dir, "send", "--server", $"127.0.0.1:{catcher.Port}", "--to", "x@example.com", "--starttls", "--insecure", "--auth", "demo:pw");
        Assert.True(result.ExitCode == 0, result.ToString());
        var e = await catcher.NextMessageAsync();
        Assert.True(e.GetProperty("tls").GetBoolean());
        Assert.Equal("demo", e.GetProperty("user").GetString());
    }

    [Fact]
    public async Task SendUsesImplicitTlsWithSmtpsAndFailsWithExit1WhenTheCertificateIsNotTrusted()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--smtps", "127.0.0.1:0", "--tls-self-signed");
        var port = catcher.Listeners.Single().EndPoint.Port;
        var result = await SmtpdCli.RunAsync(dir, "send", "--server", $"127.0.0.1:{port}", "--to", "x@example.com", "--smtps", "--insecure");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True((await catcher.NextMessageAsync()).GetProperty("tls").GetBoolean());

        var untrusted = await SmtpdCli.RunAsync(dir, "send", "--server", $"127.0.0.1:{port}", "--to", "x@example.com", "--smtps");
        Assert.Equal(1, untrusted.ExitCode);
        Assert.StartsWith("smtpd: send failed", untrusted.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendReadsTheBodyFromStdinWithADash()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var result = await SmtpdCli.RunAsync(dir, ["send", "--server", $"127.0.0.1:{catcher.Port}", "--to", "x@example.com", "--body", "-"], null, stdin: "piped body text\n");
        Assert.True(result.ExitCode == 0, result.ToString());
        var id = (await catcher.NextMessageAsync()).GetProperty("id").GetString()!;
        var show = await SmtpdCli.RunAsync(dir, "show", id, "--db", dir.Database);
        Assert.Contains("piped body text", show.Output, StringComparison.Ordinal);
    }
}
