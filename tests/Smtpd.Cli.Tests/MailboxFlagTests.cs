using System.Text.Json;

namespace Smtpd.Cli.Tests;

/// <summary><c>--mailbox NAME=RULE</c> on the real process: routing, <c>list --mailbox</c>, <c>wait --mailbox</c>, the environment, and bad values.</summary>
public sealed class MailboxFlagTests
{
    [Fact]
    public async Task MailboxRulesFromTheEnvironmentRouteMessagesThatListMailboxShows()
    {
        using var dir = new TestDirectory();
        await using (var catcher = await CatcherProcess.StartAsync(dir, ["--no-http"], new Dictionary<string, string> { ["SMTPD_MAILBOX"] = "dev=to:@dev.example,alice=to:alice@example.com,dev=keep:10" }))
        {
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "For dev", to: "bob@dev.example"));
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "For alice", to: "alice@example.com"));
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "For nobody", to: "dan@else.example"));
        }

        Assert.Equal(["For dev"], await SubjectsAsync(dir, "--mailbox", "DEV"));
        Assert.Equal(["For alice"], await SubjectsAsync(dir, "--mailbox", "alice"));
        Assert.Equal(["For nobody", "For alice", "For dev"], await SubjectsAsync(dir));
        // A valid name no message was routed to lists nothing: the store does not know the catcher's rules.
        Assert.Empty(await SubjectsAsync(dir, "--mailbox", "ops"));
    }

    [Fact]
    public async Task WaitMailboxWaitsInThatMailboxOnly()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--http", "127.0.0.1:0", "--mailbox", "dev=to:@dev.example");
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "Elsewhere", to: "dan@else.example"));
        var url = "http://" + catcher.HttpListeners[0].EndPoint;
        var none = await SmtpdCli.RunAsync(dir, "wait", "--url", url, "--mailbox", "dev", "--timeout", "0");
        Assert.True(none.ExitCode == 1, none.ToString());

        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "For dev", to: "bob@dev.example"));
        var found = await SmtpdCli.RunAsync(dir, "wait", "--url", url, "--mailbox", "dev", "--timeout", "0", "--json");
        Assert.True(found.ExitCode == 0, found.ToString());
        Assert.Equal(["For dev"], JsonDocument.Parse(found.Stdout).RootElement.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("Subject").GetString()));

        var unknown = await SmtpdCli.RunAsync(dir, "wait", "--url", url, "--mailbox", "ops", "--timeout", "0");
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("no mailbox named \"ops\"", unknown.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dev", "smtpd: --mailbox: 'dev' is not NAME=RULE")]
    [InlineData("dev=from:@x.example", "smtpd: --mailbox: 'from' is not a rule kind: use to, user, port or keep")]
    [InlineData("dev=port:70000", "smtpd: --mailbox: port:70000 is not a port from 1 to 65535")]
    [InlineData("dev=keep:5", "smtpd: --mailbox: mailbox dev has only keep:, so no message could reach it: add a to:, user: or port: rule")]
    public async Task ABadMailboxRuleIsOneLineNamingTheFlagAndExitCode2(string rule, string start)
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "--no-http", "--mailbox", rule, "--db", dir.Database);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith(start, Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListMailboxRefusesANameThatCannotBeAMailbox()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "list", "--mailbox", "not a name", "--db", dir.Database);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("smtpd: --mailbox: 'not a name' is not a mailbox name", result.Stderr, StringComparison.Ordinal);
    }

    private static async Task<List<string?>> SubjectsAsync(TestDirectory dir, params string[] flags)
    {
        var list = await SmtpdCli.RunAsync(dir, ["list", "--json", "--db", dir.Database, .. flags]);
        Assert.True(list.ExitCode == 0, list.ToString());
        return JsonDocument.Parse(list.Stdout).RootElement.EnumerateArray().Select(m => m.GetProperty("subject").GetString()).ToList();
    }
}
