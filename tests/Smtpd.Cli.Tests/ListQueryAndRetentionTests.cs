using System.Text.Json;

namespace Smtpd.Cli.Tests;

/// <summary><c>smtpd list --query</c> (the HTTP API's search language) and the retention flags beside <c>--retain</c>.</summary>
public sealed class ListQueryAndRetentionTests
{
    [Fact]
    public async Task ListQueryTakesTheSearchSyntaxOfTheHTTPAPI()
    {
        using var dir = new TestDirectory();
        await using (var catcher = await CatcherProcess.StartAsync(dir))
        {
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple("Your order shipped", from: "shop@store.example", body: "tracking zebra123\r\n"));
            await catcher.NextMessageAsync();
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple("Weekly digest", from: "news@letters.example"));
            await catcher.NextMessageAsync();
            Assert.Equal(0, await catcher.StopAsync());
        }

        foreach (var (query, subjects) in new (string, string[])[]
        {
            ("from:store.example", ["Your order shipped"]),
            ("subject:\"weekly digest\"", ["Weekly digest"]),
            ("zebra123", ["Your order shipped"]),
            ("-from:store.example is:unread", ["Weekly digest"]),
            ("header:Subject=order", ["Your order shipped"]),
            ("after:2020-01-01", ["Weekly digest", "Your order shipped"]),
        })
        {
            var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--query", query, "--db", dir.Database);
            Assert.True(list.ExitCode == 0, list.ToString());
            Assert.Equal(subjects, JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("subject").GetString()));
        }
    }

    [Theory]
    [InlineData("is:starred", "smtpd: --query: bad search query: unknown is: value 'starred' (expected read, unread or tagged) at offset 3")]
    [InlineData("subject:\"open", "smtpd: --query: bad search query: unterminated quote at offset 8")]
    public async Task ABadQueryIsOneLineAndExitCode2(string query, string line)
    {
        using var dir = new TestDirectory();
        // The query is refused before the store is opened, so no store is needed to see it.
        var result = await SmtpdCli.RunAsync(dir, "list", "--query", query, "--db", dir.Database);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal(line, Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Empty(result.Stdout);
    }

    [Fact]
    public async Task RetainSizeFromItsEnvironmentVariableDeletesTheOldestAndReportsAPruneEvent()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, [], new Dictionary<string, string> { ["SMTPD_RETAIN_SIZE"] = "3K" });
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple($"s{i}", body: new string('x', 1200) + "\r\n"));
            ids.Add((await catcher.NextMessageAsync()).GetProperty("id").GetString()!);
        }

        // Three messages of about 1.4 KB do not fit in 3 KiB: the oldest went in the third one's commit.
        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.Equal(ids[1..].AsEnumerable().Reverse(), JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        Assert.Equal(0, await catcher.StopAsync());
        var prune = Assert.Single(catcher.Prunes.Concat(catcher.RemainingEvents()), e => e.GetProperty("event").GetString() == "prune");
        Assert.Equal(1, prune.GetProperty("messages").GetInt64());
        Assert.Equal(ids[0], prune.GetProperty("lastId").GetString());
    }
}
