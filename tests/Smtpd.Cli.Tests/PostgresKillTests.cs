using System.Collections.Concurrent;
using System.Text.Json;
using MailKit.Net.Smtp;
using Smtpd.Catcher.Tests.Storage;

namespace Smtpd.Cli.Tests;

/// <summary>
/// Two <c>smtpd</c> processes on one PostgreSQL database (<c>--db</c>), one killed with SIGKILL in the middle of
/// transfers: every message either instance acknowledged is in the shared store exactly once, the half-sent one is
/// not, and the other instance goes on accepting. The store commands read the PostgreSQL store too.
/// </summary>
public sealed class PostgresKillTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SigkillOfOneInstanceMidTransferLosesNoAcknowledgedMessageAndTheOtherGoesOn()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        using var dir = new TestDirectory();
        await using var doomed = await CatcherProcess.StartAsync(dir, "--db", database, "--no-http");
        await using var survivor = await CatcherProcess.StartAsync(dir, "--db", database, "--no-http");
        var acknowledged = new ConcurrentBag<string>();
        var killed = 0;

        async Task SendLoopAsync(CatcherProcess catcher, string name)
        {
            using var client = new SmtpClient { Timeout = 30_000 };
            try
            {
                await client.ConnectAsync("127.0.0.1", catcher.Port, MailKit.Security.SecureSocketOptions.None, Ct);
                for (var i = 0; Volatile.Read(ref killed) == 0; i++)
                {
                    var subject = $"{name}-m{i}";
                    await client.SendAsync(Mail.Simple(subject, body: new string('x', 2000) + "\r\n"), Ct);
                    acknowledged.Add(subject);
                }
            }
            catch (Exception ex) when (ex is SmtpCommandException or SmtpProtocolException or IOException or System.Net.Sockets.SocketException)
            {
                // The killed instance's connections end mid-command: those messages were never acknowledged.
            }
        }

        var senders = Enumerable.Range(0, 4).Select(i => Task.Run(() => SendLoopAsync(i % 2 == 0 ? doomed : survivor, $"{(i % 2 == 0 ? "doomed" : "survivor")}{i}"))).ToArray();
        // One transfer to the doomed instance that is half-way through its content when it dies.
        var (halfSent, _) = await RawSmtpClient.ConnectAndGreetAsync(doomed.EndPoint);
        await using (halfSent)
        {
            await halfSent.CommandAsync("EHLO slow.example");
            await halfSent.CommandAsync("MAIL FROM:<slow@example.com>");
            await halfSent.CommandAsync("RCPT TO:<bob@example.com>");
            Assert.StartsWith("354", await halfSent.CommandAsync("DATA"), StringComparison.Ordinal);
            await halfSent.SendAsync("Subject: half sent\r\n\r\nfirst half\r\n");
            while (acknowledged.Count(s => s.StartsWith("doomed", StringComparison.Ordinal)) < 20 || acknowledged.Count(s => s.StartsWith("survivor", StringComparison.Ordinal)) < 20)
            {
                await Task.Delay(5, Ct);
            }

            // SIGKILL: no drain, no clean close; only what was committed before each 250 survives.
            SmtpdCli.Signal(doomed.Process, "KILL");
            Volatile.Write(ref killed, 1);
            await doomed.WaitForExitAsync();
            await Task.WhenAll(senders);
        }

        // The survivor holds no lock or connection state of the dead one's: it still accepts and stores.
        using (var client = new SmtpClient())
        {
            await client.ConnectAsync("127.0.0.1", survivor.Port, MailKit.Security.SecureSocketOptions.None, Ct);
            await client.SendAsync(Mail.Simple("after the kill"), Ct);
            acknowledged.Add("after the kill");
            await client.DisconnectAsync(true, Ct);
        }

        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", database);
        Assert.True(list.ExitCode == 0, list.ToString());
        var stored = JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("subject").GetString()!).ToList();
        Assert.Equal(stored.Count, stored.Distinct().Count());
        var missing = acknowledged.Where(s => !stored.Contains(s)).ToList();
        Assert.True(missing.Count == 0, $"acknowledged but not stored: {string.Join(", ", missing)}");
        Assert.DoesNotContain("half sent", stored);
        // A search in the store command compiles to PostgreSQL's SQL.
        var searched = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", database, "--query", "subject:\"after the kill\"");
        Assert.True(searched.ExitCode == 0, searched.ToString());
        Assert.Equal(["after the kill"], JsonDocument.Parse(searched.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("subject").GetString()));
    }

    [Fact]
    public async Task AStoreCommandOnAPostgresDatabaseWithoutAStoreSaysSoAndExits1()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        using var dir = new TestDirectory();

        var list = await SmtpdCli.RunAsync(dir, "list", "--db", database);

        Assert.Equal(1, list.ExitCode);
        Assert.Contains("no store in postgres://", list.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Password", list.Stderr, StringComparison.OrdinalIgnoreCase);
    }
}
