using System.Text;
using System.Text.Json;

namespace Smtpd.Cli.Tests;

/// <summary>Maildir output, the sink mode and retention.</summary>
public sealed class OutputTests
{
    [Fact]
    public async Task MaildirGetsOneUniquelyNamedFilePerMessageInNewWithReturnPathAndDeliveredTo()
    {
        using var dir = new TestDirectory();
        var maildir = dir.Combine("Maildir");
        await using var catcher = await CatcherProcess.StartAsync(dir, "--maildir", maildir);
        var hashes = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var message = Mail.Simple($"maildir {i}", to: "bob@example.com");
            message.Bcc.Add(MimeKit.MailboxAddress.Parse("carol@example.org"));
            await Mail.SendAsync(catcher.EndPoint, message);
            hashes.Add((await catcher.NextMessageAsync()).GetProperty("sha256").GetString()!);
        }

        Assert.Empty(Directory.GetFiles(Path.Combine(maildir, "tmp")));
        Assert.True(Directory.Exists(Path.Combine(maildir, "cur")));
        var files = Directory.GetFiles(Path.Combine(maildir, "new"));
        Assert.Equal(3, files.Length);
        Assert.Equal(3, files.Select(Path.GetFileName).Distinct().Count());
        foreach (var file in files)
        {
            var bytes = await File.ReadAllBytesAsync(file, TestContext.Current.CancellationToken);
            var prefix = "Return-Path: <alice@example.com>\r\nDelivered-To: bob@example.com\r\nDelivered-To: carol@example.org\r\n"u8.ToArray();
            Assert.Equal(prefix, bytes[..prefix.Length]);
            // After the added headers come the exact bytes received.
            Assert.Contains(Mail.Sha256(bytes[prefix.Length..]), hashes);
        }

        // The store got them too.
        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.Equal(3, JsonDocument.Parse(list.Output).RootElement.GetArrayLength());
    }

    [Fact]
    public async Task NoStoreAcceptsAndReportsMessagesButCreatesNoDatabase()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--no-store");
        var reply = await Mail.SendAsync(catcher.EndPoint, Mail.Simple("sink"));
        Assert.Contains("Ok", reply, StringComparison.Ordinal);
        var e = await catcher.NextMessageAsync();
        Assert.Equal("sink", e.GetProperty("subject").GetString());
        Assert.False(string.IsNullOrEmpty(e.GetProperty("id").GetString()));
        Assert.Equal(0, await catcher.StopAsync());
        Assert.False(File.Exists(dir.Database));
    }

    [Fact]
    public async Task RetainKeepsOnlyTheNewestNMessages()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--retain", "3");
        var ids = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple($"r{i}"));
            ids.Add((await catcher.NextMessageAsync()).GetProperty("id").GetString()!);
        }

        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.Equal(ids[^3..].AsEnumerable().Reverse(), JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        Assert.Equal(1, (await SmtpdCli.RunAsync(dir, "show", ids[0], "--raw", "--db", dir.Database)).ExitCode);
        Assert.Equal(0, await catcher.StopAsync());

        // A restart with a smaller N trims at once, and says so before the listening events.
        await using var again = await CatcherProcess.StartAsync(dir, "--retain", "1");
        var prune = Assert.Single(again.Prunes);
        Assert.Equal(2, prune.GetProperty("messages").GetInt64());
        Assert.Equal(ids[^2], prune.GetProperty("lastId").GetString());
        list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.Equal([ids[^1]], JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task WithoutDbTheStoreIsAtTheDocumentedDefaultPathUnderXdgDataHome()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, ["--json", "--listen", "127.0.0.1:0"], null, addDefaults: false);
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple("default path"));
        await catcher.NextMessageAsync();
        Assert.True(File.Exists(dir.Combine("xdg-data", "smtpd", "smtpd.db")));
        var list = await SmtpdCli.RunAsync(dir, "list");
        Assert.Contains("default path", list.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnvironmentVariablesAndTheConfigFileSetFlagsWithTheCommandLineFirst()
    {
        using var dir = new TestDirectory();
        var config = dir.Combine("smtpd.conf");
        await File.WriteAllTextAsync(config, new StringBuilder()
            .AppendLine("# catcher settings")
            .AppendLine("hostname = from-config.test")
            .AppendLine("max-size = 1K")
            .AppendLine("reject-recipient = ^blocked@")
            .AppendLine("json")
            .ToString(), TestContext.Current.CancellationToken);
        var environment = new Dictionary<string, string>
        {
            ["SMTPD_CONFIG"] = config,
            ["SMTPD_MAX_SIZE"] = "4K",
            ["SMTPD_LISTEN"] = "127.0.0.1:0",
            ["SMTPD_DB"] = dir.Database,
        };
        await using var catcher = await CatcherProcess.StartAsync(dir, ["--hostname", "from-flag.test"], environment, addDefaults: false);
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var _ = client;
        Assert.StartsWith("220 from-flag.test ", greeting, StringComparison.Ordinal);
        Assert.Contains("SIZE 4096", await client.CommandAsync("EHLO me"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("550", await client.CommandAsync("RCPT TO:<blocked@example.com>"), StringComparison.Ordinal);

        // The store commands read --db from the same places.
        var list = await SmtpdCli.RunAsync(dir, ["list"], new Dictionary<string, string> { ["SMTPD_CONFIG"] = config, ["SMTPD_DB"] = dir.Database });
        Assert.Equal(0, list.ExitCode);
    }
}
