using System.Net;
using System.Text;

namespace Smtpd.Testing.Tests;

public sealed class MessageTests
{
    [Fact]
    public async Task AMessageKeepsTheEnvelopeWithBccRecipients()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var message = Mail.Create(from: "alice@example.com", to: "bob@example.com");
        message.Bcc.Add(MailboxAddress.Parse("hidden@example.com"));
        await Mail.SendAsync(smtp, message);

        var received = Assert.Single(smtp.Messages);
        Assert.Equal("alice@example.com", received.From);
        Assert.Equal(["bob@example.com", "hidden@example.com"], received.To);
        Assert.Equal("alice@example.com", received.Envelope.SenderAddress);
        Assert.True(received.IsTo("HIDDEN@example.com"));
        Assert.False(received.IsTo("carol@example.com"));
        Assert.DoesNotContain("hidden@example.com", received.RawText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RawBytesAreExactlyWhatTheClientSentAfterDotUnstuffing()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var content = "Subject: Bytes\r\nX-Tab:\tkept\r\n\r\n.leading dot\r\nünïcödé  trailing spaces  \r\n"u8.ToArray();
        var wire = "Subject: Bytes\r\nX-Tab:\tkept\r\n\r\n..leading dot\r\nünïcödé  trailing spaces  \r\n"u8.ToArray();

        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(smtp.EndPoint);
        await using (client)
        {
            Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
            Assert.StartsWith("250", await client.CommandAsync("EHLO raw.test"), StringComparison.Ordinal);
            Assert.StartsWith("250 ", await client.CommandAsync("MAIL FROM:<alice@example.com> BODY=8BITMIME"), StringComparison.Ordinal);
            Assert.StartsWith("250 ", await client.CommandAsync("RCPT TO:<bob@example.com>"), StringComparison.Ordinal);
            Assert.StartsWith("354 ", await client.CommandAsync("DATA"), StringComparison.Ordinal);
            await client.SendAsync(wire);
            Assert.StartsWith("250 ", await client.CommandAsync("."), StringComparison.Ordinal);
            Assert.StartsWith("221 ", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
        }

        var received = Assert.Single(smtp.Messages);
        Assert.Equal(content, received.Raw.ToArray());
        Assert.Equal(Encoding.UTF8.GetString(content), received.RawText);
        using var reader = new StreamReader(received.OpenRead(), Encoding.UTF8);
        Assert.Equal(received.RawText, await reader.ReadToEndAsync(TestContext.Current.CancellationToken));
        Assert.Equal("raw.test", received.Session.HeloName);
    }

    [Fact]
    public async Task TheMimeParseGivesHeadersAndBodies()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        await Mail.SendAsync(smtp, Mail.Create(subject: "Grüße", body: "Plain part\r\n", html: "<p>Html part</p>"));

        var received = Assert.Single(smtp.Messages);
        Assert.Same(received.Mime, received.Mime);
        Assert.Equal("Grüße", received.Subject);
        Assert.Equal("Plain part", received.Text.Trim());
        Assert.Equal("<p>Html part</p>", received.Mime.HtmlBody?.Trim());
        Assert.Equal("bob@example.com", received.Mime.To.Mailboxes.Single().Address);
    }

    [Fact]
    public async Task TheSessionInfoNamesTheClientAndItsHelo()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        await Mail.SendAsync(smtp);

        var session = Assert.Single(smtp.Messages).Session;
        Assert.Equal(IPAddress.Loopback, session.Client.Address);
        Assert.Equal("client.test", session.HeloName);
        Assert.True(session.IsExtended);
        Assert.False(session.IsSecure);
        Assert.Null(session.AuthenticatedIdentity);
        Assert.False(string.IsNullOrEmpty(session.Id));
    }

    [Fact]
    public async Task MessagesIsASnapshotThatClearEmpties()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        await Mail.SendAsync(smtp, Mail.Create(subject: "one"));
        var before = smtp.Messages;

        await Mail.SendAsync(smtp, Mail.Create(subject: "two"));
        Assert.Single(before);
        Assert.Equal(["one", "two"], smtp.Messages.Select(m => m.Subject));

        smtp.Clear();
        Assert.Empty(smtp.Messages);
        Assert.Single(before);

        await Mail.SendAsync(smtp, Mail.Create(subject: "three"));
        Assert.Equal("three", Assert.Single(smtp.Messages).Subject);
    }

    [Fact]
    public async Task SystemNetMailMessagesAreRecordedToo()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        using var client = new System.Net.Mail.SmtpClient(smtp.Host, smtp.Port);
        using var message = new System.Net.Mail.MailMessage("alice@example.com", "bob@example.com", "From System.Net.Mail", "Body text");
        message.CC.Add("carol@example.com");
        await client.SendMailAsync(message, TestContext.Current.CancellationToken);

        var received = await smtp.WaitForMessageAsync(timeout: TimeSpan.FromSeconds(5), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("From System.Net.Mail", received.Subject);
        Assert.Equal(["bob@example.com", "carol@example.com"], received.To);
        Assert.Equal("Body text", received.Text.Trim());
    }

    [Fact]
    public async Task ToStringSummarisesFromToAndSubject()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        await Mail.SendAsync(smtp, Mail.Create(from: "alice@example.com", to: "bob@example.com, carol@example.com", subject: "Plans"));

        Assert.Equal("alice@example.com -> bob@example.com, carol@example.com: \"Plans\"", Assert.Single(smtp.Messages).ToString());
        Assert.Contains("1 message", smtp.ToString(), StringComparison.Ordinal);
    }
}
