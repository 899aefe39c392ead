using System.Text.Json;
using MimeKit;
using Smtpd.Catcher.Tests.Storage;

namespace Smtpd.Cli.Tests;

/// <summary>
/// The store commands (<c>show</c>, <c>show --raw</c>, <c>export</c>, <c>delete</c>, <c>clear</c>) on a PostgreSQL
/// <c>--db</c>, against a running catcher on the same database: what SQLite's round-trip tests check, on the
/// shared store.
/// </summary>
public sealed class PostgresStoreCommandTests
{
    [Fact]
    public async Task ShowExportDeleteAndClearWorkOnAPostgresStoreWhileTheCatcherRuns()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--db", database, "--no-http");
        var message = Mail.Simple(subject: "Quarterly report", to: "bob@example.com");
        message.Bcc.Add(MailboxAddress.Parse("hidden@example.org"));
        await Mail.SendAsync(catcher.EndPoint, message);
        var stored = await catcher.NextMessageAsync();
        var id = stored.GetProperty("id").GetString()!;
        var others = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            await Mail.SendAsync(catcher.EndPoint, Mail.Simple($"m{i}"));
            others.Add((await catcher.NextMessageAsync()).GetProperty("id").GetString()!);
        }

        // The bytes come back from PostgreSQL's chunks exactly as the event described them.
        var raw = await SmtpdCli.RunAsync(dir, "show", id, "--raw", "--db", database);
        Assert.True(raw.ExitCode == 0, raw.ToString());
        Assert.Equal(stored.GetProperty("size").GetInt64(), raw.Stdout.LongLength);
        Assert.Equal(stored.GetProperty("sha256").GetString(), Mail.Sha256(raw.Stdout));

        var show = await SmtpdCli.RunAsync(dir, "show", id, "--db", database);
        Assert.True(show.ExitCode == 0, show.ToString());
        Assert.Contains("Subject: Quarterly report", show.Output, StringComparison.Ordinal);
        Assert.Contains("<hidden@example.org> (Bcc)", show.Output, StringComparison.Ordinal);

        var export = await SmtpdCli.RunAsync(dir, "export", id, "--out", dir.Combine("out"), "--db", database);
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.Equal(raw.Stdout, await File.ReadAllBytesAsync(dir.Combine("out", id + ".eml"), TestContext.Current.CancellationToken));

        var delete = await SmtpdCli.RunAsync(dir, "delete", others[0], "--db", database);
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.Contains("deleted 1", delete.Output, StringComparison.Ordinal);
        Assert.Equal([others[1], id], await IdsAsync(dir, database));

        var missing = await SmtpdCli.RunAsync(dir, "delete", others[0], "--db", database);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains($"no message {others[0]}", missing.Stderr, StringComparison.Ordinal);

        // The running catcher keeps storing after another process changed the shared store.
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple("after delete"));
        await catcher.NextMessageAsync();

        var clear = await SmtpdCli.RunAsync(dir, "clear", "--db", database);
        Assert.True(clear.ExitCode == 0, clear.ToString());
        Assert.Contains("deleted 3", clear.Output, StringComparison.Ordinal);
        Assert.Empty(await IdsAsync(dir, database));
        Assert.Equal(1, (await SmtpdCli.RunAsync(dir, "show", id, "--db", database)).ExitCode);
    }

    private static async Task<List<string?>> IdsAsync(TestDirectory dir, string database)
    {
        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", database);
        Assert.True(list.ExitCode == 0, list.ToString());
        return JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
    }
}
