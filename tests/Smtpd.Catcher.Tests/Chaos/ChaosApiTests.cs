using System.Net;
using System.Text;
using MailKit.Net.Smtp;
using MimeKit;
using Smtpd.Catcher.Chaos;
using Smtpd.Catcher.Tests.Http;
using Smtpd.Testing;

namespace Smtpd.Catcher.Tests.Chaos;

/// <summary>
/// Mailpit's <c>GET/PUT /api/v1/chaos</c> and the catcher's scripted faults, over a real Kestrel, with MailKit
/// seeing the failures on the SMTP side.
/// </summary>
public sealed class ChaosApiTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task TheChaosRoutesAnswerMailpitsErrorWhenChaosIsNotEnabled()
    {
        await using var host = await CatcherHost.StartAsync();
        using var get = await host.Client.GetAsync("/api/v1/chaos", Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, get.StatusCode);
        Assert.Equal("Chaos is not enabled", await get.Content.ReadAsStringAsync(Cancel));
        using var put = await host.Client.PutAsync("/api/v1/chaos", Json("{}"), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        using var post = await host.Client.PostAsync("/api/v1/chaos/faults", Json("{\"Script\":\"rcpt 452\"}"), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, post.StatusCode);
        Assert.Empty(host.Catcher.Chaos.Faults.Scripted);
    }

    [Fact]
    public async Task GetChaosAnswersMailpitsTriggersWithItsFieldNames()
    {
        await using var host = await CatcherHost.StartAsync(o => o.Chaos.Enabled = true);
        var triggers = await host.GetJsonAsync("/api/v1/chaos");
        Assert.Equal(["Sender", "Recipient", "Authentication"], triggers.EnumerateObject().Select(p => p.Name));
        Assert.Equal(451, triggers.GetProperty("Sender").GetProperty("ErrorCode").GetInt32());
        Assert.Equal(0, triggers.GetProperty("Sender").GetProperty("Probability").GetInt32());
        Assert.Equal(451, triggers.GetProperty("Recipient").GetProperty("ErrorCode").GetInt32());
        Assert.Equal(535, triggers.GetProperty("Authentication").GetProperty("ErrorCode").GetInt32());
    }

    [Fact]
    public async Task ASenderTriggerAtOneHundredPercentFailsMailFromUntilItIsReset()
    {
        await using var host = await CatcherHost.StartAsync(o => o.Chaos.Enabled = true);
        using (var put = await host.Client.PutAsync("/api/v1/chaos", Json("{\"Sender\":{\"ErrorCode\":421,\"Probability\":100}}"), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            var body = await put.Content.ReadAsStringAsync(Cancel);
            Assert.Contains("\"Sender\":{\"ErrorCode\":421,\"Probability\":100}", body, StringComparison.Ordinal);
            // Omitted triggers are reset to their defaults, as in Mailpit.
            Assert.Contains("\"Recipient\":{\"ErrorCode\":451,\"Probability\":0}", body, StringComparison.Ordinal);
        }

        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => host.SendSimpleAsync("Refused"));
        Assert.Equal((SmtpStatusCode)421, refused.StatusCode);
        Assert.Equal(SmtpErrorCode.SenderNotAccepted, refused.ErrorCode);

        using (var reset = await host.Client.PutAsync("/api/v1/chaos", Json("{}"), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, reset.StatusCode);
        }

        await host.SendSimpleAsync("Accepted");
        Assert.Equal(1, (await host.GetJsonAsync("/api/v1/messages")).GetProperty("total").GetInt32());
    }

    [Theory]
    [InlineData("{\"Recipient\":{\"ErrorCode\":200,\"Probability\":5}}", "error code")]
    [InlineData("{\"Recipient\":{\"ErrorCode\":451,\"Probability\":101}}", "probability")]
    [InlineData("{\"Sender\":", "malformed JSON")]
    [InlineData("", "JSON body")]
    public async Task ABadTriggerIsRefusedWith400AndTheTriggersStay(string body, string reason)
    {
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Chaos.Enabled = true;
            o.Chaos.Triggers = ChaosTriggers.Off with { Sender = new ChaosTrigger(450, 1) };
        });
        using var put = await host.Client.PutAsync("/api/v1/chaos", Json(body), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
        Assert.Contains(reason, await put.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Equal(new ChaosTrigger(450, 1), host.Catcher.Chaos.Triggers.Sender);
    }

    [Fact]
    public async Task AScriptFromTheApiRefusesTheNextTwoRecipientsAndLetsTheThirdThrough()
    {
        await using var host = await CatcherHost.StartAsync(o => o.Chaos.Enabled = true);
        using (var post = await host.Client.PostAsync("/api/v1/chaos/faults", Json("{\"Script\":\"rcpt 452 4.2.2 x2\"}"), Cancel))
        {
            Assert.Equal(HttpStatusCode.Created, post.StatusCode);
        }

        for (var attempt = 0; attempt < 2; attempt++)
        {
            var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => host.SendSimpleAsync("Try " + attempt));
            Assert.Equal(SmtpErrorCode.RecipientNotAccepted, refused.ErrorCode);
            Assert.Equal((SmtpStatusCode)452, refused.StatusCode);
        }

        await host.SendSimpleAsync("Third time");
        var faults = await host.GetJsonAsync("/api/v1/chaos/faults");
        var fault = Assert.Single(faults.GetProperty("Faults").EnumerateArray());
        Assert.Equal("Rcpt", fault.GetProperty("Point").GetString());
        Assert.Equal(2, fault.GetProperty("Fired").GetInt32());
        Assert.Equal(2, faults.GetProperty("Injected").GetInt32());
        Assert.Equal(host.Catcher.Chaos.Seed, faults.GetProperty("Seed").GetInt32());

        using (var clear = await host.Client.DeleteAsync("/api/v1/chaos/faults", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, clear.StatusCode);
        }

        Assert.Empty((await host.GetJsonAsync("/api/v1/chaos/faults")).GetProperty("Faults").EnumerateArray());
    }

    [Theory]
    [InlineData("{\"Script\":\"rcpt sometimes\"}", "not a fault")]
    [InlineData("{}", "needs a Script")]
    public async Task ABadScriptIsRefusedWith400(string body, string reason)
    {
        await using var host = await CatcherHost.StartAsync(o => o.Chaos.Enabled = true);
        using var post = await host.Client.PostAsync("/api/v1/chaos/faults", Json(body), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, post.StatusCode);
        Assert.Contains(reason, await post.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        Assert.Empty(host.Catcher.Chaos.Faults.Scripted);
    }

    [Fact]
    public async Task TheSameSeedFailsTheSameRecipients()
    {
        var first = await RecipientOutcomesAsync(seed: 1234);
        var second = await RecipientOutcomesAsync(seed: 1234);
        Assert.Equal(first, second);
        // A 50% trigger over 40 draws both accepts and refuses (the chance of either being absent is 2^-39).
        Assert.Contains(true, first);
        Assert.Contains(false, first);
    }

    [Fact]
    public async Task AFaultScriptedFromCodeDropsTheConnectionAtTheEndOfTheMessageAndNothingIsStored()
    {
        await using var host = await CatcherHost.StartAsync();
        var fault = host.Catcher.Chaos.Faults.Disconnect(SmtpFaultPoint.Message);

        await Assert.ThrowsAnyAsync<Exception>(() => host.SendSimpleAsync("Dropped"));

        Assert.Equal(1, fault.Fired);
        await host.SendSimpleAsync("Kept");
        var list = await host.GetJsonAsync("/api/v1/messages");
        Assert.Equal(1, list.GetProperty("total").GetInt32());
        Assert.Equal("Kept", list.GetProperty("messages")[0].GetProperty("Subject").GetString());
    }

    /// <summary>Sends 40 RCPT commands on one connection with a 50% recipient trigger; true where accepted.</summary>
    private static async Task<List<bool>> RecipientOutcomesAsync(int seed)
    {
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Chaos.Seed = seed;
            o.Chaos.Triggers = ChaosTriggers.Off with { Recipient = new ChaosTrigger(451, 50) };
        });
        var outcomes = new List<bool>();
        using var smtp = new RecordingClient(outcomes);
        var endpoint = host.Catcher.Listeners[0].EndPoint;
        await smtp.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, MailKit.Security.SecureSocketOptions.None, Cancel);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = "Chaos";
        message.Body = new TextPart("plain") { Text = "Hello" };
        var recipients = Enumerable.Range(0, 40).Select(i => MailboxAddress.Parse($"r{i}@example.com")).ToList();
        try
        {
            await smtp.SendAsync(message, MailboxAddress.Parse("alice@example.com"), recipients, Cancel);
        }
        catch (SmtpCommandException)
        {
            // Every recipient refused: the outcomes are still recorded.
        }

        await smtp.DisconnectAsync(true, Cancel);
        Assert.Equal(40, outcomes.Count);
        return outcomes;
    }

    /// <summary>A MailKit client that carries on past refused recipients and records which were accepted.</summary>
    private sealed class RecordingClient(List<bool> outcomes) : SmtpClient
    {
        protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) => outcomes.Add(true);

        protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) => outcomes.Add(false);
    }
}
