using System.Net.Mail;
using System.Net.Mime;
using System.Text;
using MimeKit;

namespace Smtpd.Tests.Integration;

/// <summary>
/// The .NET base library's own System.Net.Mail.SmtpClient sends to the server over a real socket; what arrives
/// is checked against the envelope it should have produced and parsed back with MimeKit.
/// </summary>
public sealed class SystemNetMailEndToEndTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SeveralRecipientsIncludingCcAndBccAreInTheEnvelopeAndTheBccIsNotInTheHeaders()
    {
        await using var server = TestServer.Start();
        using var message = new MailMessage(new MailAddress("alice@example.com", "Alice"), new MailAddress("bob@example.com", "Bob"))
        {
            Subject = "Several recipients",
            Body = "Hello all",
        };
        message.To.Add("carol@example.org");
        message.CC.Add("dave@example.net");
        message.Bcc.Add("eve.hidden@example.com");

        await SendAsync(server, message);

        var received = Assert.Single(server.Messages);
        Assert.Equal("alice@example.com", received.Envelope.SenderAddress);
        Assert.Equal(
            ["bob@example.com", "carol@example.org", "dave@example.net", "eve.hidden@example.com"],
            received.Envelope.Recipients.Select(r => r.Address).Order(StringComparer.Ordinal));
        var parsed = Parse(received);
        Assert.Equal(["bob@example.com", "carol@example.org"], parsed.To.Mailboxes.Select(m => m.Address));
        Assert.Equal(["dave@example.net"], parsed.Cc.Mailboxes.Select(m => m.Address));
        Assert.False(parsed.Headers.Contains(HeaderId.Bcc));
        Assert.DoesNotContain("eve.hidden", received.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("Hello all", parsed.TextBody!.TrimEnd());
        // System.Net.Mail introduces itself with EHLO, which every callback can then see.
        Assert.NotNull(received.Session.HeloName);
    }

    [Fact]
    public async Task Utf8SubjectBodyAndAnAttachmentArriveIntact()
    {
        await using var server = TestServer.Start();
        const string subject = "Grüße — 你好 🌍";
        const string body = "Zeile eins: äöüß\r\nzweite Zeile: 日本語のテキスト\r\n.\r\n..dots survive\r\n";
        var attachmentBytes = new byte[150 * 1024];
        new Random(42).NextBytes(attachmentBytes);
        using var message = new MailMessage("alice@example.com", "bob@example.com")
        {
            Subject = subject,
            SubjectEncoding = Encoding.UTF8,
            Body = body,
            BodyEncoding = Encoding.UTF8,
            // Raw 8-bit text, so the dotted lines go through DATA's dot-stuffing as they are.
            BodyTransferEncoding = TransferEncoding.EightBit,
        };
        message.To.Add("carol@example.org");
        message.Attachments.Add(new Attachment(new MemoryStream(attachmentBytes), "données.bin", MediaTypeNames.Application.Octet));

        await SendAsync(server, message);

        var received = Assert.Single(server.Messages);
        Assert.Equal(["bob@example.com", "carol@example.org"], received.Envelope.Recipients.Select(r => r.Address));
        var parsed = Parse(received);
        Assert.Equal(subject, parsed.Subject);
        Assert.Equal(body.ReplaceLineEndings("\n"), parsed.TextBody!.ReplaceLineEndings("\n"));
        // The dotted lines were stuffed by the client and unstuffed by the server: the raw text is the body as written.
        Assert.Contains("\r\n\r\n" + body, received.Text, StringComparison.Ordinal);
        // System.Net.Mail sends 8-bit text without BODY=8BITMIME; the server takes it all the same, as Postfix does.
        Assert.Equal(SmtpBodyType.SevenBit, received.Envelope.Body);
        var attachment = Assert.Single(parsed.Attachments.OfType<MimePart>());
        Assert.Equal("données.bin", attachment.FileName);
        using var decoded = new MemoryStream();
        await attachment.Content!.DecodeToAsync(decoded, Ct);
        Assert.Equal(attachmentBytes, decoded.ToArray());
    }

    [Fact]
    public async Task AnInternationalAddressIsSentWithSmtpUtf8WhenTheClientAllowsIt()
    {
        await using var server = TestServer.Start();
        using var message = new MailMessage(new MailAddress("用户@例子.测试"), new MailAddress("收件人@例子.测试"))
        {
            Subject = "国际化",
            SubjectEncoding = Encoding.UTF8,
            Body = "你好",
            BodyEncoding = Encoding.UTF8,
        };

        await SendAsync(server, message, client => client.DeliveryFormat = SmtpDeliveryFormat.International);

        var received = Assert.Single(server.Messages);
        Assert.True(received.Envelope.SmtpUtf8);
        Assert.Equal("用户@例子.测试", received.Envelope.SenderAddress);
        Assert.Equal(["收件人@例子.测试"], received.Envelope.Recipients.Select(r => r.Address));
        var parsed = Parse(received);
        Assert.Equal("国际化", parsed.Subject);
        Assert.Equal("你好", parsed.TextBody!.TrimEnd());
    }

    [Fact]
    public async Task ARejectedRecipientReachesSystemNetMailAsA550AndNothingIsDelivered()
    {
        await using var server = TestServer.Start(o => o.ValidateRecipient = (_, rcpt, _) =>
            ValueTask.FromResult(rcpt.LocalPart == "nobody" ? SmtpVerdict.Reject("no such user") : SmtpVerdict.Accept));
        using var message = new MailMessage("alice@example.com", "nobody@example.com") { Subject = "x", Body = "y" };

        var error = await Assert.ThrowsAsync<SmtpFailedRecipientException>(() => SendAsync(server, message));

        Assert.Equal(SmtpStatusCode.MailboxUnavailable, error.StatusCode);
        Assert.Equal("<nobody@example.com>", error.FailedRecipient);
        Assert.Empty(server.Messages);
    }

    private static async Task SendAsync(TestServer server, MailMessage message, Action<SmtpClient>? configure = null)
    {
        using var client = new SmtpClient("127.0.0.1", server.Port)
        {
            DeliveryMethod = SmtpDeliveryMethod.Network,
            EnableSsl = false,
            Timeout = 10_000,
        };
        configure?.Invoke(client);
        await client.SendMailAsync(message, Ct);
    }

    private static MimeMessage Parse(ReceivedMessage received) => MimeMessage.Load(new MemoryStream(received.Content), Ct);
}
