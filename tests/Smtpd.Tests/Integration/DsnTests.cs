using System.Collections.Concurrent;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Smtpd.Tests.Integration;

/// <summary>
/// The DSN extension (RFC 3461) over real sockets: the EHLO keyword, the parameters reaching the recipient
/// validator and the envelope, the refusals, and MailKit's SmtpClient sending them on its own.
/// </summary>
public sealed class DsnTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EhloAdvertisesDsnExactlyWhenItIsEnabled(bool enabled)
    {
        await using var server = TestServer.Start(o => o.EnableDsn = enabled);
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;

        var lines = (await client.CommandAsync("EHLO client.test")).Split('\n');

        Assert.Equal(enabled, lines.Any(l => l[4..] == "DSN"));
        Assert.StartsWith("250 ", lines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task DsnParametersReachTheRecipientValidatorAndTheEnvelope()
    {
        var validated = new ConcurrentQueue<(string Address, SmtpRecipientDsn? Dsn)>();
        await using var server = TestServer.Start(o =>
        {
            o.EnableDsn = true;
            o.ValidateRecipient = (session, recipient, ct) =>
            {
                validated.Enqueue((recipient.Address, recipient.Dsn));
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
        });
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        await client.CommandAsync("EHLO client.test");

        Assert.StartsWith("250 ", await client.CommandAsync("MAIL FROM:<alice@example.com> RET=HDRS ENVID=QQ+2B314159"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await client.CommandAsync("RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2Bdsn@example.com"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await client.CommandAsync("RCPT TO:<carol@example.org>"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await client.CommandAsync("RCPT TO:<dave@example.net> NOTIFY=NEVER"), StringComparison.Ordinal);
        Assert.StartsWith("354 ", await client.CommandAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await client.CommandAsync("Subject: dsn\r\n\r\nbody\r\n."), StringComparison.Ordinal);

        var envelope = (await server.WaitForMessageAsync()).Envelope;
        Assert.Equal(SmtpDsnReturn.Headers, envelope.DsnReturn);
        Assert.Equal("QQ+314159", envelope.DsnEnvelopeId);
        Assert.Equal(["bob@example.com", "carol@example.org", "dave@example.net"], envelope.Recipients.Select(r => r.Address));
        var bob = envelope.Recipients[0].Dsn!;
        Assert.Equal((SmtpDsnNotify.Success | SmtpDsnNotify.Failure, "rfc822", "Bob+dsn@example.com"), (bob.Notify, bob.OriginalRecipientType, bob.OriginalRecipient));
        Assert.Null(envelope.Recipients[1].Dsn);
        Assert.Equal(SmtpDsnNotify.Never, envelope.Recipients[2].Dsn!.Notify);
        Assert.Null(envelope.Recipients[2].Dsn!.OriginalRecipient);

        // The validator saw each RCPT's parameters before the recipient was accepted.
        Assert.Equal(
            [("bob@example.com", SmtpDsnNotify.Success | SmtpDsnNotify.Failure), ("carol@example.org", SmtpDsnNotify.None), ("dave@example.net", SmtpDsnNotify.Never)],
            validated.Select(v => (v.Address, v.Dsn?.Notify ?? SmtpDsnNotify.None)));
        Assert.Same(bob, validated.First().Dsn);
    }

    [Fact]
    public async Task DsnParametersAre555WhenDsnIsDisabledAndTheTransactionGoesOn()
    {
        await using var server = TestServer.Start();
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        await client.CommandAsync("EHLO client.test");

        Assert.Equal("555 5.5.4 Unsupported MAIL or RCPT parameter", await client.CommandAsync("MAIL FROM:<alice@example.com> RET=FULL"));
        Assert.Equal("555 5.5.4 Unsupported MAIL or RCPT parameter", await client.CommandAsync("MAIL FROM:<alice@example.com> ENVID=x"));
        Assert.StartsWith("250 ", await client.CommandAsync("MAIL FROM:<alice@example.com>"), StringComparison.Ordinal);
        Assert.Equal("555 5.5.4 Unsupported MAIL or RCPT parameter", await client.CommandAsync("RCPT TO:<bob@example.com> NOTIFY=NEVER"));
        Assert.Equal("555 5.5.4 Unsupported MAIL or RCPT parameter", await client.CommandAsync("RCPT TO:<bob@example.com> ORCPT=rfc822;bob@example.com"));
        Assert.StartsWith("250 ", await client.CommandAsync("RCPT TO:<bob@example.com>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASmuggledCrLfInXtextIsRefusedAndNothingAfterItRuns()
    {
        await using var server = TestServer.Start(o => o.EnableDsn = true);
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        await client.CommandAsync("EHLO client.test");

        Assert.Equal(
            "501 5.5.4 DSN parameter decodes to a control character such as CR, LF or NUL (RFC 3461 4)",
            await client.CommandAsync("MAIL FROM:<alice@example.com> ENVID=x+0D+0ARCPT+20TO:<evil@example.com>"));
        Assert.StartsWith("250 ", await client.CommandAsync("MAIL FROM:<alice@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("501 5.5.4 DSN parameter decodes to a control character", await client.CommandAsync("RCPT TO:<bob@example.com> ORCPT=rfc822;bob+00@example.com"), StringComparison.Ordinal);
        Assert.StartsWith("555 5.5.4 RET and ENVID are MAIL parameters", await client.CommandAsync("RCPT TO:<bob@example.com> RET=FULL"), StringComparison.Ordinal);
        Assert.StartsWith("503 ", await client.CommandAsync("DATA"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RsetForgetsTheDsnParametersOfTheAbandonedTransaction()
    {
        await using var server = TestServer.Start(o => o.EnableDsn = true);
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        await client.CommandAsync("EHLO client.test");
        await client.CommandAsync("MAIL FROM:<alice@example.com> RET=FULL ENVID=first");
        await client.CommandAsync("RCPT TO:<bob@example.com> NOTIFY=DELAY");
        Assert.StartsWith("250 ", await client.CommandAsync("RSET"), StringComparison.Ordinal);

        await client.CommandAsync("MAIL FROM:<alice@example.com>");
        await client.CommandAsync("RCPT TO:<bob@example.com>");
        await client.CommandAsync("DATA");
        Assert.StartsWith("250 ", await client.CommandAsync("Subject: second\r\n\r\nbody\r\n."), StringComparison.Ordinal);

        var envelope = (await server.WaitForMessageAsync()).Envelope;
        Assert.Equal(SmtpDsnReturn.None, envelope.DsnReturn);
        Assert.Null(envelope.DsnEnvelopeId);
        Assert.Null(Assert.Single(envelope.Recipients).Dsn);
    }

    [Fact]
    public async Task MailKitSendsItsDsnRequestsWhenTheServerAdvertisesDsn()
    {
        await using var server = TestServer.Start(o => o.EnableDsn = true);

        using (var client = new DsnSmtpClient { DeliveryStatusNotificationType = DeliveryStatusNotificationType.HeadersOnly })
        {
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, Ct);
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Dsn));
            await client.SendAsync(NewMessage(), Ct);
            await client.DisconnectAsync(true, Ct);
        }

        var envelope = Assert.Single(server.Messages).Envelope;
        Assert.Equal(SmtpDsnReturn.Headers, envelope.DsnReturn);
        Assert.Equal("order=42+retry", envelope.DsnEnvelopeId);
        var bob = envelope.Recipients.Single(r => r.Address == "bob@example.com").Dsn!;
        Assert.Equal(SmtpDsnNotify.Success | SmtpDsnNotify.Failure | SmtpDsnNotify.Delay, bob.Notify);
        // MailKit adds the original recipient with every NOTIFY.
        Assert.Equal("rfc822", bob.OriginalRecipientType, ignoreCase: true);
        Assert.Equal("bob@example.com", bob.OriginalRecipient);
        Assert.Equal(SmtpDsnNotify.Never, envelope.Recipients.Single(r => r.Address == "carol@example.org").Dsn!.Notify);
    }

    [Fact]
    public async Task MailKitSendsNoDsnParametersToAServerThatDoesNotAdvertiseDsn()
    {
        await using var server = TestServer.Start();

        using (var client = new DsnSmtpClient { DeliveryStatusNotificationType = DeliveryStatusNotificationType.Full })
        {
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, Ct);
            Assert.False(client.Capabilities.HasFlag(SmtpCapabilities.Dsn));
            await client.SendAsync(NewMessage(), Ct);
            await client.DisconnectAsync(true, Ct);
        }

        var envelope = Assert.Single(server.Messages).Envelope;
        Assert.Equal(SmtpDsnReturn.None, envelope.DsnReturn);
        Assert.Null(envelope.DsnEnvelopeId);
        Assert.All(envelope.Recipients, r => Assert.Null(r.Dsn));
    }

    private static MimeMessage NewMessage()
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@example.com"));
        message.To.Add(new MailboxAddress("Bob", "bob@example.com"));
        message.To.Add(new MailboxAddress("Carol", "carol@example.org"));
        message.Subject = "DSN";
        message.Body = new TextPart("plain") { Text = "Tell me how it went.\n" };
        return message;
    }

    /// <summary>MailKit asks for DSNs through these two overrides (and RET through DeliveryStatusNotificationType).</summary>
    private sealed class DsnSmtpClient : SmtpClient
    {
        protected override DeliveryStatusNotification? GetDeliveryStatusNotifications(MimeMessage message, MailboxAddress mailbox) =>
            mailbox.Address == "bob@example.com"
                ? DeliveryStatusNotification.Success | DeliveryStatusNotification.Failure | DeliveryStatusNotification.Delay
                : DeliveryStatusNotification.Never;

        // "=" and "+" must travel as +3D and +2B: the server decodes them back.
        protected override string GetEnvelopeId(MimeMessage message) => "order=42+retry";
    }
}
