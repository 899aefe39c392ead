using System.Collections.Concurrent;
using System.Text.Json;
using MailKit.Net.Smtp;

namespace Smtpd.Cli.Tests;

/// <summary>Graceful shutdown and crashes: nothing that got a 250 is ever missing from the store.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task SigtermInTheMiddleOfTransfersDrainsThemExits0AndKeepsEveryAcknowledgedMessage()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var acknowledged = new ConcurrentBag<string>();
        using var stopSending = new CancellationTokenSource();

        async Task SendLoopAsync(int sender)
        {
            using var client = new SmtpClient { Timeout = 30_000 };
            try
            {
                await client.ConnectAsync("127.0.0.1", catcher.Port, MailKit.Security.SecureSocketOptions.None);
                for (var i = 0; !stopSending.IsCancellationRequested; i++)
                {
                    var subject = $"s{sender}-m{i}";
                    await client.SendAsync(Mail.Simple(subject, body: new string('x', 2000) + "\r\n"));
                    acknowledged.Add(subject);
                }
            }
            catch (Exception ex) when (ex is SmtpCommandException or SmtpProtocolException or IOException or System.Net.Sockets.SocketException)
            {
                // 421 to MAIL after the drain began, or the connection closed: this sender is done.
            }
        }

        var senders = Enumerable.Range(0, 6).Select(i => Task.Run(() => SendLoopAsync(i))).ToArray();

        // One transfer that is half-way through its content when the signal comes.
        var (slow, _) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var __ = slow;
        await slow.CommandAsync("EHLO slow.example");
        await slow.CommandAsync("MAIL FROM:<slow@example.com>");
        await slow.CommandAsync("RCPT TO:<bob@example.com>");
        Assert.StartsWith("354", await slow.CommandAsync("DATA"), StringComparison.Ordinal);
        await slow.SendAsync("Subject: in flight\r\n\r\nfirst half\r\n");

        while (acknowledged.Count < 40)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        SmtpdCli.Signal(catcher.Process, "TERM");
        await Task.Delay(300, TestContext.Current.CancellationToken);
        await slow.SendAsync("second half\r\n.\r\n");
        var slowReply = await slow.ReadReplyAsync();
        Assert.StartsWith("250 ", slowReply, StringComparison.Ordinal);
        acknowledged.Add("in flight");

        Assert.Equal(0, await catcher.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        stopSending.Cancel();
        await Task.WhenAll(senders);

        // The store was closed cleanly: its WAL was checkpointed into the database and removed.
        Assert.False(File.Exists(dir.Database + "-wal"));
        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        var stored = JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("subject").GetString()!).ToHashSet();
        var missing = acknowledged.Where(s => !stored.Contains(s)).ToList();
        Assert.True(missing.Count == 0, $"acknowledged but not stored: {string.Join(", ", missing)}");
        Assert.Contains("in flight", stored);
    }

    [Fact]
    public async Task ACrashRightAfterThe250LosesNothing()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var acknowledged = new ConcurrentBag<string>();
        var killed = 0;

        async Task SendLoopAsync(int sender)
        {
            using var client = new SmtpClient { Timeout = 30_000 };
            try
            {
                await client.ConnectAsync("127.0.0.1", catcher.Port, MailKit.Security.SecureSocketOptions.None);
                for (var i = 0; Volatile.Read(ref killed) == 0; i++)
                {
                    var subject = $"s{sender}-m{i}";
                    await client.SendAsync(Mail.Simple(subject));
                    acknowledged.Add(subject);
                }
            }
            catch (Exception ex) when (ex is SmtpCommandException or SmtpProtocolException or IOException or System.Net.Sockets.SocketException)
            {
            }
        }

        var senders = Enumerable.Range(0, 4).Select(i => Task.Run(() => SendLoopAsync(i))).ToArray();
        while (acknowledged.Count < 30)
        {
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }

        // SIGKILL: no drain, no clean close; only what was committed before each 250 survives.
        SmtpdCli.Signal(catcher.Process, "KILL");
        Volatile.Write(ref killed, 1);
        await catcher.WaitForExitAsync();
        await Task.WhenAll(senders);

        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.True(list.ExitCode == 0, list.ToString());
        var stored = JsonDocument.Parse(list.Output).RootElement.EnumerateArray().Select(m => m.GetProperty("subject").GetString()!).ToHashSet();
        var missing = acknowledged.Where(s => !stored.Contains(s)).ToList();
        Assert.True(missing.Count == 0, $"acknowledged but not stored: {string.Join(", ", missing)}");
    }
}

/// <summary>The web host under the command leaves SIGINT and SIGTERM to the command.</summary>
public sealed class HttpHostLifetimeTests
{
    [Fact]
    public async Task TheWebHostLeavesSignalsToTheCommandInsteadOfStoppingItselfOnThem()
    {
        // The default ConsoleLifetime answers SIGTERM itself; during the host's start that made StartAsync throw out
        // of the command as an unhandled TaskCanceledException.
        var options = new Smtpd.Catcher.CatcherOptions();
        options.Listeners.Add(new Smtpd.SmtpListener(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)));
        await using var catcher = new Smtpd.Catcher.MailCatcher(options);
        catcher.Start();
        var settings = new Smtpd.Cli.Configuration.CatcherSettings
        {
            Listeners = [],
            DatabasePath = string.Empty,
            HttpEndPoints = [new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)],
        };
        using var logging = new Smtpd.Cli.Output.StderrLoggerProvider(TextWriter.Null, Microsoft.Extensions.Logging.LogLevel.None);
        await using var http = await Smtpd.Cli.Catcher.HttpHost.StartAsync(catcher, settings, certificate: null, logging);
        Assert.NotNull(http);
        var lifetime = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Microsoft.Extensions.Hosting.IHostLifetime>(http.Services);
        Assert.IsType<Smtpd.Cli.Catcher.CommandOwnedLifetime>(lifetime);
    }
}
