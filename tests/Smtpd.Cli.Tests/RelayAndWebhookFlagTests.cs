using Smtpd.Testing;

namespace Smtpd.Cli.Tests;

/// <summary>The <c>--relay*</c> and <c>--webhook-url</c> flags and <c>smtpd release</c>, with real processes.</summary>
public sealed class RelayAndWebhookFlagTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("--relay", "http://mail.example.com", "--relay")]
    [InlineData("--relay", "smtp://mail.example.com/path", "--relay")]
    [InlineData("--relay", "not a url", "--relay")]
    [InlineData("--relay-allow", "([a-z]", "--relay-allow")]
    [InlineData("--relay-matching", "*oops", "--relay-matching")]
    [InlineData("--relay-sender", "not-an-address", "--relay-sender")]
    [InlineData("--relay-auth", "nocolon", "--relay-auth")]
    [InlineData("--webhook-url", "ftp://example.com/hook", "--webhook-url")]
    [InlineData("--webhook-url", "/relative", "--webhook-url")]
    public async Task ABadRelayOrWebhookValueGetsOneLineNamingTheFlagAndExitCode2(string flag, string value, string named)
    {
        using var dir = new TestDirectory();
        string[] relay = flag is "--relay" ? [] : ["--relay", "smtp://127.0.0.1:25"];
        var result = await SmtpdCli.RunAsync(dir, [flag, value, .. relay, "--db", dir.Database], null);
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"smtpd: {named}: ", line, StringComparison.Ordinal);
        Assert.Empty(result.Stdout);
    }

    [Theory]
    [InlineData("--relay-matching", ".")]
    [InlineData("--relay-allow", ".")]
    [InlineData("--relay-sender", "a@example.com")]
    [InlineData("--relay-starttls", null)]
    public async Task ARelayFlagWithoutRelayIsRefused(string flag, string? value)
    {
        using var dir = new TestDirectory();
        string[] args = value is null ? [flag] : [flag, value];
        var result = await SmtpdCli.RunAsync(dir, [.. args, "--db", dir.Database], null);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"smtpd: {flag}: needs --relay smtp://HOST:PORT\n", result.Stderr);
    }

    [Fact]
    public async Task ARelayPasswordIsNeverRepeatedInAnError()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, ["--relay", "smtp://user:hunter2@mail.example.com/x", "--db", dir.Database], null);
        Assert.Equal(2, result.ExitCode);
        Assert.DoesNotContain("hunter2", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheEnvironmentAndTheConfigFileSetTheRelayFlagsAndTheirErrorsNameThem()
    {
        using var dir = new TestDirectory();
        var fromEnvironment = await SmtpdCli.RunAsync(dir, ["--db", dir.Database], new Dictionary<string, string> { ["SMTPD_WEBHOOK_URL"] = "ftp://x" });
        Assert.Equal(2, fromEnvironment.ExitCode);
        Assert.StartsWith("smtpd: SMTPD_WEBHOOK_URL (--webhook-url): ", fromEnvironment.Stderr, StringComparison.Ordinal);

        var config = dir.Combine("relay.conf");
        await File.WriteAllTextAsync(config, "# relay\nrelay = smtp://127.0.0.1:25\nrelay-sender = nope\n", Cancel);
        var fromConfig = await SmtpdCli.RunAsync(dir, ["--config", config, "--db", dir.Database], null);
        Assert.Equal(2, fromConfig.ExitCode);
        Assert.StartsWith($"smtpd: {config}:3 (--relay-sender): ", fromConfig.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WebhookOrAutomaticRelayWithNoStoreIsRefused()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, ["--no-store", "--webhook-url", "http://127.0.0.1:1/hook", "--db", dir.Database], null);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("smtpd: --webhook-url: cannot be combined with --no-store", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReleaseRelaysAStoredMessageThroughTheCatchersRelayWithSmtpdUrl()
    {
        using var dir = new TestDirectory();
        await using var target = await SmtpTestServer.StartAsync(o => o.RequireAuthentication("relay", "secret"), Cancel);
        await using var catcher = await CatcherProcess.StartAsync(dir,
            "--http", "127.0.0.1:0", "--relay", $"smtp://127.0.0.1:{target.Port}", "--relay-auth", "relay:secret", "--relay-sender", "bounces@example.net");
        var reply = await Mail.SendAsync(catcher.EndPoint, Mail.Simple("Release me"));
        var id = reply[(reply.LastIndexOf(' ') + 1)..];
        var url = $"http://{catcher.HttpListeners[0].EndPoint}/";

        var result = await SmtpdCli.RunAsync(dir, ["release", id, "--to", "carol@example.org,dave@example.org"], new Dictionary<string, string> { ["SMTPD_URL"] = url });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal($"released {id} to carol@example.org, dave@example.org\n", result.Output);
        var relayed = await target.WaitForMessageAsync(cancellationToken: Cancel);
        Assert.Equal("Release me", relayed.Subject);
        Assert.Equal("bounces@example.net", relayed.From);
        Assert.Equal(["carol@example.org", "dave@example.org"], relayed.To);
        Assert.Equal("relay", relayed.Session.AuthenticatedIdentity);
    }

    [Fact]
    public async Task AReleaseTheServerRefusesExitsOneNamingTheServerAndItsReply()
    {
        using var dir = new TestDirectory();
        await using var target = await SmtpTestServer.StartAsync(cancellationToken: Cancel);
        target.Faults.Reject(SmtpFaultPoint.Rcpt, 550, "5.7.1", "relaying denied");
        await using var catcher = await CatcherProcess.StartAsync(dir, "--http", "127.0.0.1:0", "--relay", $"smtp://127.0.0.1:{target.Port}");
        var reply = await Mail.SendAsync(catcher.EndPoint, Mail.Simple("Refused"));
        var id = reply[(reply.LastIndexOf(' ') + 1)..];

        var result = await SmtpdCli.RunAsync(dir, "release", id, "--to", "carol@example.org", "--url", $"http://{catcher.HttpListeners[0].EndPoint}/");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"smtpd: release of {id} failed: SMTP error: smtp://127.0.0.1:{target.Port} refused RCPT TO:<carol@example.org>: 550", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("relaying denied", result.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not-an-address", "--to")]
    [InlineData("a@b.example>", "--to")]
    public async Task ReleaseExitsTwoForABadRecipientWithoutCallingTheCatcher(string to, string named)
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "release", "1", "--to", to, "--url", "http://127.0.0.1:1/");
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"smtpd: {named}: ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReleaseExitsOneWhenNoCatcherListens()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "release", "1", "--to", "carol@example.org", "--url", "http://127.0.0.1:1/");
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("smtpd: cannot reach the catcher at http://127.0.0.1:1/", result.Stderr, StringComparison.Ordinal);
    }
}
