using System.Net;
using MailKit.Net.Smtp;
using MimeKit;

namespace Smtpd.Cli.Tests;

/// <summary>The chaos flags on a real catcher process, seen by MailKit and by Mailpit's chaos route.</summary>
public sealed class ChaosFlagTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AChaosTriggerAtOneHundredPercentFailsEveryMailFromAndTheApiShowsIt()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--chaos", "Sender:421:100", "--chaos-seed", "7");

        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => SendAsync(catcher.EndPoint));
        Assert.Equal((SmtpStatusCode)421, refused.StatusCode);

        using var http = new HttpClient { BaseAddress = new Uri($"http://{catcher.HttpListeners[0].EndPoint}") };
        var triggers = await http.GetStringAsync("/api/v1/chaos", Cancel);
        Assert.Contains("\"Sender\":{\"ErrorCode\":421,\"Probability\":100}", triggers, StringComparison.Ordinal);
        var faults = await http.GetStringAsync("/api/v1/chaos/faults", Cancel);
        Assert.Contains("\"Seed\":7", faults, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AChaosScriptFromTheEnvironmentRefusesTheFirstMessageOnlyAndWithoutChaosTheApiIsOff()
    {
        using var dir = new TestDirectory();
        await using (var catcher = await CatcherProcess.StartAsync(dir, [], new Dictionary<string, string> { ["SMTPD_CHAOS_SCRIPT"] = "message 451 4.3.0 x1" }))
        {
            var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => SendAsync(catcher.EndPoint));
            Assert.Equal((SmtpStatusCode)451, refused.StatusCode);
            await SendAsync(catcher.EndPoint);
            // Only the second message was stored: the first was refused after its content.
            Assert.Equal("Chaos", (await catcher.NextMessageAsync()).GetProperty("subject").GetString());
            Assert.False(catcher.HasPendingEvent);
        }

        using var plain = new TestDirectory();
        await using var off = await CatcherProcess.StartAsync(plain);
        using var http = new HttpClient { BaseAddress = new Uri($"http://{off.HttpListeners[0].EndPoint}") };
        using var response = await http.GetAsync("/api/v1/chaos", Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Chaos is not enabled", await response.Content.ReadAsStringAsync(Cancel));
    }

    [Theory]
    [InlineData("--chaos", "sender:451", "--chaos")]
    [InlineData("--chaos", "helo:451:5", "--chaos")]
    [InlineData("--chaos", "recipient:451:101", "--chaos")]
    [InlineData("--chaos-script", "rcpt sometimes", "--chaos-script")]
    [InlineData("--chaos-seed", "-3", "--chaos-seed")]
    public async Task ABadChaosValueGetsOneLineNamingTheFlagAndExitCode2(string flag, string value, string named)
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, [flag, value, "--db", dir.Database], null);
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("smtpd: ", line, StringComparison.Ordinal);
        Assert.Contains(named, line, StringComparison.Ordinal);
    }

    private static async Task SendAsync(IPEndPoint endpoint)
    {
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, MailKit.Security.SecureSocketOptions.None, Cancel);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = "Chaos";
        message.Body = new TextPart("plain") { Text = "Hello" };
        await smtp.SendAsync(message, Cancel);
        await smtp.DisconnectAsync(true, Cancel);
    }
}
