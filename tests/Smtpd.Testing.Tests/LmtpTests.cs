namespace Smtpd.Testing.Tests;

/// <summary>An LMTP test server (<see cref="SmtpTestServerOptions.UseLmtp"/>), driven over a raw socket.</summary>
public sealed class LmtpTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnLmtpTestServerRecordsTheMessageAndAnswersEachRecipient()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseLmtp(), Ct);
        await using var client = await ConnectAsync(smtp);

        Assert.StartsWith("250-smtp.test Hello client.test", await client.CommandAsync("LHLO client.test"), StringComparison.Ordinal);
        var replies = await SendMessageAsync(client, "bob@example.com", "carol@example.com");

        Assert.Equal(["250 2.0.0 Message accepted", "250 2.0.0 Message accepted"], replies);
        var message = await smtp.WaitForMessageAsync(m => m.IsTo("carol@example.com"), cancellationToken: Ct);
        Assert.Equal(["bob@example.com", "carol@example.com"], message.To);
        Assert.Equal("LMTP", message.Subject);
    }

    [Fact]
    public async Task FaultsApplyToLhloAndToEveryRecipientAtTheEndOfTheMessage()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseLmtp(), Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Ehlo, 421, "4.3.2", "Not now");
        await using (var refused = await ConnectAsync(smtp))
        {
            Assert.Equal("421 Not now", await refused.CommandAsync("LHLO client.test"));
        }

        smtp.Faults.Reject(SmtpFaultPoint.Message, 452, "4.2.2", "Mailbox full");
        await using var client = await ConnectAsync(smtp);
        Assert.StartsWith("250-", await client.CommandAsync("LHLO client.test"), StringComparison.Ordinal);

        Assert.Equal(["452 4.2.2 Mailbox full", "452 4.2.2 Mailbox full"], await SendMessageAsync(client, "bob@example.com", "carol@example.com"));
        Assert.Empty(smtp.Messages);
    }

    [Fact]
    public async Task TheTestServerSpeaksSmtpUnlessToldOtherwise()
    {
        var options = new SmtpTestServerOptions();
        Assert.Equal(SmtpListenerProtocol.Smtp, options.Protocol);
        Assert.Same(options, options.UseLmtp());
        Assert.Equal(SmtpListenerProtocol.Lmtp, options.Protocol);

        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await using var client = await ConnectAsync(smtp);
        Assert.Equal("500 Command unrecognized", await client.CommandAsync("LHLO client.test"));
    }

    /// <summary>Connects to the test server and checks its greeting.</summary>
    private static async Task<RawSmtpClient> ConnectAsync(SmtpTestServer smtp)
    {
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(smtp.EndPoint);
        Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
        return client;
    }

    /// <summary>Sends a message to the recipients and returns the replies after the final dot, one per recipient.</summary>
    private static async Task<string[]> SendMessageAsync(RawSmtpClient client, params string[] recipients)
    {
        Assert.StartsWith("250 ", await client.CommandAsync("MAIL FROM:<alice@example.com>"), StringComparison.Ordinal);
        foreach (var recipient in recipients)
        {
            Assert.StartsWith("250 ", await client.CommandAsync($"RCPT TO:<{recipient}>"), StringComparison.Ordinal);
        }

        Assert.StartsWith("354 ", await client.CommandAsync("DATA"), StringComparison.Ordinal);
        await client.SendAsync("Subject: LMTP\r\n\r\nhello\r\n.\r\n");
        return await client.ReadRepliesAsync(recipients.Length);
    }
}
