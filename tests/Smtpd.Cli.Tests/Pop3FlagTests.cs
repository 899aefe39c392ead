using MailKit.Net.Pop3;
using MailKit.Security;

namespace Smtpd.Cli.Tests;

/// <summary><c>--pop3</c> and <c>--pop3-auth</c> on the real process, with MailKit's POP3 client.</summary>
public sealed class Pop3FlagTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<Pop3Client> LogInAsync(CatcherProcess catcher, string user, string password)
    {
        var client = new Pop3Client();
        var endPoint = Assert.Single(catcher.Pop3Listeners).EndPoint;
        await client.ConnectAsync(endPoint.Address.ToString(), endPoint.Port, SecureSocketOptions.None, Ct);
        await client.AuthenticateAsync(user, password, Ct);
        return client;
    }

    [Fact]
    public async Task Pop3PortZeroIsReportedInTheListeningEventAndDeleAndQuitEmptyTheStore()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--no-http", "--pop3", "127.0.0.1:0", "--pop3-auth", "alice:s3cr:et");
        Assert.NotEqual(0, Assert.Single(catcher.Pop3Listeners).EndPoint.Port);
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "Over POP3"));
        await catcher.NextMessageAsync();

        using (var client = await LogInAsync(catcher, "alice", "s3cr:et"))
        {
            Assert.Equal(1, client.Count);
            Assert.Equal("Over POP3", (await client.GetMessageAsync(0, Ct)).Subject);
            await client.DeleteMessageAsync(0, Ct);
            await client.DisconnectAsync(true, Ct);
        }

        var list = await SmtpdCli.RunAsync(dir, "list", "--db", dir.Database);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.DoesNotContain("Over POP3", list.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pop3AuthFromTheEnvironmentIsTheOnlyLoginAccepted()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, ["--no-http", "--pop3", "127.0.0.1:0"], new Dictionary<string, string> { ["SMTPD_POP3_AUTH"] = "bob:builder" });
        using (var client = await LogInAsync(catcher, "bob", "builder"))
        {
            Assert.Equal(0, client.Count);
        }

        await Assert.ThrowsAsync<AuthenticationException>(() => LogInAsync(catcher, "alice", "anything"));
    }

    [Fact]
    public async Task Pop3AuthFromTheConfigFileIsRead()
    {
        using var dir = new TestDirectory();
        var config = dir.Combine("smtpd.conf");
        await File.WriteAllTextAsync(config, "pop3-auth = carol:pw\n", Ct);
        await using var catcher = await CatcherProcess.StartAsync(dir, "--no-http", "--pop3", "127.0.0.1:0", "--config", config);
        using var client = await LogInAsync(catcher, "carol", "pw");
        Assert.Equal(0, client.Count);
    }

    [Theory]
    [InlineData("--pop3 127.0.0.1", "--pop3")]
    [InlineData("--pop3 127.0.0.1:70000", "--pop3")]
    [InlineData("--pop3 127.0.0.1:0 --pop3-auth nocolon", "--pop3-auth")]
    [InlineData("--pop3-auth alice:secret", "--pop3-auth")]
    [InlineData("--pop3 127.0.0.1:0 --no-store", "--pop3")]
    public async Task ABadPop3ValueGetsOneLineNamingTheFlagAndExitCode2(string args, string named)
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, [.. args.Split(' '), "--no-http", "--db", dir.Database], null);
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("smtpd: " + named, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABadPop3ValueInTheEnvironmentNamesTheVariable()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, ["--no-http", "--db", dir.Database], new Dictionary<string, string> { ["SMTPD_POP3"] = "nowhere" });
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("smtpd: SMTPD_POP3 (--pop3): ", result.Stderr, StringComparison.Ordinal);
    }
}
