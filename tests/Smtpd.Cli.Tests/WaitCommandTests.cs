using System.Text.Json;
using Smtpd.Catcher.Tests.Http.Live;

namespace Smtpd.Cli.Tests;

/// <summary><c>smtpd wait</c> (the real process) against a catcher's live HTTP routes on Kestrel port 0.</summary>
public sealed class WaitCommandTests
{
    [Fact]
    public async Task WaitExitsZeroAndPrintsTheMatchingMessageReachingTheCatcherThroughSmtpdUrl()
    {
        using var dir = new TestDirectory();
        await using var host = await LiveHost.StartAsync();
        var id = await host.SendAsync("Your code is 424242");
        var result = await SmtpdCli.RunAsync(dir, ["wait", "--query", "subject:code", "--timeout", "30s"],
            new Dictionary<string, string> { ["SMTPD_URL"] = host.BaseAddress.ToString() });
        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("ID", lines[0], StringComparison.Ordinal);
        Assert.StartsWith(id + " ", lines[1], StringComparison.Ordinal);
        Assert.Contains("Your code is 424242", lines[1], StringComparison.Ordinal);
        Assert.EndsWith("Your code is 424242", lines[1], StringComparison.Ordinal);  // the last column is not padded
    }

    [Fact]
    public async Task WaitTablePrintsAWideSubjectWholeAtTheSubjectColumn()
    {
        using var dir = new TestDirectory();
        await using var host = await LiveHost.StartAsync();
        var id = await host.SendAsync("幅広い件名 🎉 wide");
        var result = await SmtpdCli.RunAsync(dir, ["wait", "--query", "subject:wide", "--timeout", "30s"],
            new Dictionary<string, string> { ["SMTPD_URL"] = host.BaseAddress.ToString() });
        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // ID (24 cells), a space, RECEIVED (20), a space, FROM (30), a space: the subject starts at cell 77, and a
        // subject of wide characters narrower than the column comes out whole, with no padding after it.
        Assert.Equal(77, lines[0].IndexOf("SUBJECT", StringComparison.Ordinal));
        Assert.StartsWith(id + " ", lines[1], StringComparison.Ordinal);
        Assert.Equal("幅広い件名 🎉 wide", lines[1][77..]);
    }

    [Fact]
    public async Task WaitWithJsonPrintsTheCatchersMessageList()
    {
        using var dir = new TestDirectory();
        await using var host = await LiveHost.StartAsync();
        var first = await host.SendAsync("One");
        var second = await host.SendAsync("Two");
        var result = await SmtpdCli.RunAsync(dir, "wait", "--count", "2", "--json", "--url", host.BaseAddress.ToString());
        Assert.True(result.ExitCode == 0, result.ToString());
        using var list = JsonDocument.Parse(result.Stdout);
        Assert.Equal([second, first], list.RootElement.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()));
    }

    [Fact]
    public async Task WaitExitsOneOnTimeoutWithTheCatchersReason()
    {
        using var dir = new TestDirectory();
        await using var host = await LiveHost.StartAsync();
        var result = await SmtpdCli.RunAsync(dir, "wait", "--query", "to:nobody", "--timeout", "200ms", "--url", host.BaseAddress.ToString());
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("smtpd: timed out after 200ms: 0 of 1 message matching \"to:nobody\" stored\n", result.Stderr);
    }

    [Theory]
    [InlineData("--count", "0", "--count")]
    [InlineData("--timeout", "soon", "--timeout")]
    [InlineData("--url", "ftp://example.com", "--url")]
    public async Task WaitExitsTwoForABadFlagWithoutCallingTheCatcher(string flag, string value, string named)
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "wait", flag, value, "--url", flag == "--url" ? value : "http://127.0.0.1:1/");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(named, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitExitsTwoWhenTheCatcherRefusesAValue()
    {
        using var dir = new TestDirectory();
        await using var host = await LiveHost.StartAsync();
        var result = await SmtpdCli.RunAsync(dir, "wait", "--timeout", "10m", "--url", host.BaseAddress.ToString());
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("smtpd: timeout must be a duration from 0 to 5m", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitExitsOneWhenNoCatcherListens()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "wait", "--timeout", "1s", "--url", "http://127.0.0.1:1/");
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("smtpd: cannot reach the catcher at http://127.0.0.1:1/", result.Stderr, StringComparison.Ordinal);
    }
}
