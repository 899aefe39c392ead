using System.Text;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Smtpd.Tests.Integration;

/// <summary>
/// MailKit, a real and widely used SMTP client, sends to the server over a real socket; the received bytes are
/// compared with what MimeKit writes for the same message and parsed back with MimeKit.
/// </summary>
public sealed class MailKitEndToEndTests
{
    [Fact]
    public async Task SeveralRecipientsAndABccAreAllInTheEnvelopeButTheBccIsNotInTheHeaders()
    {
        await using var server = TestServer.Start();
        var message = NewMessage("Several recipients");
        message.To.Add(new MailboxAddress("Bob", "bob@example.com"));
        message.To.Add(new MailboxAddress("Carol", "carol@example.org"));
        message.Cc.Add(new MailboxAddress("Dave", "dave@example.net"));
        message.Bcc.Add(new MailboxAddress("Eve", "eve.hidden@example.com"));
        message.Body = new TextPart("plain") { Text = "Hello all\n" };

        await SendAsync(server, message);

        var received = Assert.Single(server.Messages);
        Assert.Equal("alice@example.com", received.Envelope.SenderAddress);
        Assert.Equal(
            ["bob@example.com", "carol@example.org", "dave@example.net", "eve.hidden@example.com"],
            received.Envelope.Recipients.Select(r => r.Address).Order(StringComparer.Ordinal));
        var parsed = Parse(received);
        Assert.Equal(["bob@example.com", "carol@example.org"], parsed.To.Mailboxes.Select(m => m.Address));
        Assert.Equal(["dave@example.net"], parsed.Cc.Mailboxes.Select(m => m.Address));
        Assert.Empty(parsed.Bcc);
        Assert.False(parsed.Headers.Contains(HeaderId.Bcc));
        Assert.DoesNotContain("eve.hidden", received.Text, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(ExpectedBytes(message), received.Content);
    }

    [Fact]
    public async Task Utf8SubjectAndBodyArriveIntactAsEightBitMime()
    {
        await using var server = TestServer.Start();
        const string subject = "Grüße aus Köln — 你好 🌍";
        const string body = "Zeile eins: äöüß\nzweite Zeile: 日本語のテキスト\nemoji: 🎉\n";
        var message = NewMessage(subject);
        message.To.Add(new MailboxAddress("Bob", "bob@example.com"));
        message.Body = new TextPart("plain") { Text = body };

        var log = await SendAsync(server, message);

        var received = Assert.Single(server.Messages);
        var parsed = Parse(received);
        Assert.Equal(subject, parsed.Subject);
        Assert.Equal(body, parsed.TextBody!.ReplaceLineEndings("\n"));
        Assert.Equal(ExpectedBytes(message), received.Content);

        // MailKit sends 8-bit text with DATA and BODY=8BITMIME, not BDAT, even though CHUNKING is advertised.
        Assert.Contains("BODY=8BITMIME", log.ClientText, StringComparison.Ordinal);
        Assert.Contains("\r\nDATA\r\n", log.ClientText, StringComparison.Ordinal);
        Assert.DoesNotContain("BDAT", log.ClientText, StringComparison.Ordinal);
        Assert.Equal(SmtpBodyType.EightBitMime, received.Envelope.Body);
        // The UTF-8 body went over the wire unencoded.
        Assert.Contains("日本語のテキスト", received.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AttachmentsArriveByteIdenticalAndTheRawBytesParseBackWithMimeKit()
    {
        // A small memory threshold so that the message spills to the spool file on the way.
        await using var server = TestServer.Start(o => o.MessageMemoryThreshold = 4 * 1024);
        var binary = new byte[300 * 1024];
        new Random(1234).NextBytes(binary);
        var text = Encoding.UTF8.GetBytes("Notes — ünïcödé\r\n.\r\n..not the end\r\n");
        var builder = new BodyBuilder { TextBody = "See the attachments.\n" };
        builder.Attachments.Add("data.bin", binary, new ContentType("application", "octet-stream"));
        builder.Attachments.Add("notes.txt", text, new ContentType("text", "plain") { Charset = "utf-8" });
        var message = NewMessage("Attachments");
        message.To.Add(new MailboxAddress("Bob", "bob@example.com"));
        message.Body = builder.ToMessageBody();

        await SendAsync(server, message);

        var received = Assert.Single(server.Messages);
        Assert.Equal(ExpectedBytes(message), received.Content);
        var parsed = Parse(received);
        Assert.Equal("See the attachments.\n", parsed.TextBody!.ReplaceLineEndings("\n"));
        var attachments = parsed.Attachments.OfType<MimePart>().ToDictionary(a => a.FileName!);
        Assert.Equal(["data.bin", "notes.txt"], attachments.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(binary, Decode(attachments["data.bin"]));
        Assert.Equal(text, Decode(attachments["notes.txt"]));
    }

    [Fact]
    public async Task LinesStartingWithADotAreStuffedByMailKitAndUnstuffedByTheServer()
    {
        await using var server = TestServer.Start();
        var message = NewMessage("Dots");
        message.To.Add(new MailboxAddress("Bob", "bob@example.com"));
        message.Body = new TextPart("plain") { Text = ".\n.leading dot\n..two dots\nmiddle\n.\n. space\nlast\n" };

        var log = await SendAsync(server, message);

        // On the wire, every line that starts with a dot got one more (RFC 5321 4.5.2).
        Assert.Contains("\r\n\r\n..\r\n..leading dot\r\n...two dots\r\nmiddle\r\n..\r\n.. space\r\nlast\r\n.\r\n", log.ClientText, StringComparison.Ordinal);
        Assert.DoesNotContain("BDAT", log.ClientText, StringComparison.Ordinal);

        // The server removed exactly those dots: the content is what MimeKit wrote.
        var received = Assert.Single(server.Messages);
        Assert.Equal(ExpectedBytes(message), received.Content);
        Assert.EndsWith("\r\n\r\n.\r\n.leading dot\r\n..two dots\r\nmiddle\r\n.\r\n. space\r\nlast\r\n", received.Text, StringComparison.Ordinal);
        Assert.Equal(".\n.leading dot\n..two dots\nmiddle\n.\n. space\nlast\n", Parse(received).TextBody!.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task AnInternationalizedAddressIsSentWithSmtpUtf8AndArrivesIntact()
    {
        await using var server = TestServer.Start();
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("用户", "用户@例子.测试"));
        message.To.Add(new MailboxAddress("收件人", "收件人@例子.测试"));
        message.Subject = "国际化邮件";
        message.Body = new TextPart("plain") { Text = "你好，世界\n" };
        // Without International, MailKit would still use SMTPUTF8 but write the headers with RFC 2047 and punycode.
        var log = await SendAsync(server, message, SmtpFormatOptions(international: true));

        Assert.Contains("MAIL FROM:<用户@例子.测试>", log.ClientText, StringComparison.Ordinal);
        Assert.Contains("SMTPUTF8", log.ClientText, StringComparison.Ordinal);
        var received = Assert.Single(server.Messages);
        Assert.True(received.Envelope.SmtpUtf8);
        Assert.Equal("用户@例子.测试", received.Envelope.SenderAddress);
        Assert.Equal("用户", received.Envelope.Sender!.LocalPart);
        Assert.Equal("例子.测试", received.Envelope.Sender.Domain);
        Assert.True(received.Envelope.Sender.IsInternationalized);
        Assert.Equal(["收件人@例子.测试"], received.Envelope.Recipients.Select(r => r.Address));
        var parsed = Parse(received);
        Assert.Equal("用户@例子.测试", parsed.From.Mailboxes.Single().Address);
        Assert.Equal("收件人@例子.测试", parsed.To.Mailboxes.Single().Address);
        Assert.Equal("国际化邮件", parsed.Subject);
        Assert.Equal(ExpectedBytes(message, international: true), received.Content);
    }

    [Fact]
    public async Task BinaryContentMakesMailKitUseBdatWithBinaryMimeAndArrivesUnaltered()
    {
        await using var server = TestServer.Start();
        // Everything DATA cannot carry: NUL, bare CR and LF, and the end-of-data sequence itself.
        var payload = new byte[70 * 1024];
        new Random(99).NextBytes(payload);
        "\0\r\r\n\n.\r\n\r\n.\r\n.."u8.CopyTo(payload.AsSpan(1000));
        var attachment = new MimePart("application", "octet-stream")
        {
            Content = new MimeContent(new MemoryStream(payload)),
            ContentTransferEncoding = ContentEncoding.Binary,
            FileName = "blob.bin",
        };
        var message = NewMessage("Binary");
        message.To.Add(new MailboxAddress("Bob", "bob@example.com"));
        message.Body = new Multipart("mixed") { new TextPart("plain") { Text = "Binary attached.\n" }, attachment };

        var log = await SendAsync(server, message);

        Assert.Contains("BODY=BINARYMIME", log.ClientText, StringComparison.Ordinal);
        Assert.Contains("BDAT ", log.ClientText, StringComparison.Ordinal);
        Assert.DoesNotContain("\r\nDATA\r\n", log.ClientText, StringComparison.Ordinal);
        var received = Assert.Single(server.Messages);
        Assert.Equal(SmtpBodyType.BinaryMime, received.Envelope.Body);
        Assert.Equal(ExpectedBytes(message), received.Content);
        var parsed = Parse(received);
        Assert.Equal(payload, Decode(parsed.Attachments.OfType<MimePart>().Single()));
    }

    [Fact]
    public async Task WithBdatPreferredLinesStartingWithADotAreNeitherStuffedNorUnstuffed()
    {
        await using var server = TestServer.Start();
        var message = NewMessage("BDAT dots");
        message.To.Add(new MailboxAddress("Bob", "bob@example.com"));
        message.Body = new TextPart("plain") { Text = ".\n..two\n.three\n" };

        var log = new RecordingProtocolLogger();
        using (var client = new BdatPreferringSmtpClient(log))
        {
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, Ct);
            await client.SendAsync(message, Ct);
            await client.DisconnectAsync(true, Ct);
        }

        Assert.Contains("BDAT ", log.ClientText, StringComparison.Ordinal);
        Assert.Contains("\r\n\r\n.\r\n..two\r\n.three\r\n", log.ClientText, StringComparison.Ordinal);
        var received = Assert.Single(server.Messages);
        Assert.Equal(ExpectedBytes(message), received.Content);
        Assert.EndsWith("\r\n\r\n.\r\n..two\r\n.three\r\n", received.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PipeliningSendsMailAndEveryRcptInOneWrite()
    {
        await using var server = TestServer.Start();
        var message = NewMessage("Pipelined");
        var recipients = Enumerable.Range(1, 5).Select(i => $"user{i}@example.com").ToArray();
        foreach (var address in recipients)
        {
            message.To.Add(MailboxAddress.Parse(address));
        }

        message.Body = new TextPart("plain") { Text = "pipelined\n" };

        var log = await SendAsync(server, message);

        // MailKit pipelines only because the server advertised PIPELINING: one write holds MAIL and every RCPT.
        var batch = Assert.Single(log.ClientWrites, w => w.Contains("MAIL FROM:", StringComparison.Ordinal));
        Assert.Equal(recipients.Length, recipients.Count(r => batch.Contains($"RCPT TO:<{r}>", StringComparison.Ordinal)));
        var received = Assert.Single(server.Messages);
        Assert.Equal(recipients, received.Envelope.Recipients.Select(r => r.Address));
    }

    [Fact]
    public async Task PipelinedRepliesMatchTheirCommandsWhenOneRecipientIsRejected()
    {
        await using var server = TestServer.Start(o => o.ValidateRecipient = (_, rcpt, _) =>
            ValueTask.FromResult(rcpt.LocalPart == "nobody" ? SmtpVerdict.Reject("no such user") : SmtpVerdict.Accept));
        var message = NewMessage("One bad recipient");
        message.To.Add(MailboxAddress.Parse("first@example.com"));
        message.To.Add(MailboxAddress.Parse("nobody@example.com"));
        message.To.Add(MailboxAddress.Parse("last@example.com"));
        message.Body = new TextPart("plain") { Text = "hello\n" };

        var log = new RecordingProtocolLogger();
        using var client = new TolerantSmtpClient(log);
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, Ct);
        await client.SendAsync(message, Ct);
        await client.DisconnectAsync(true, Ct);

        Assert.Single(log.ClientWrites, w => w.Contains("MAIL FROM:", StringComparison.Ordinal) && w.Contains("RCPT TO:<last@example.com>", StringComparison.Ordinal));
        var rejected = Assert.Single(client.Rejected);
        Assert.Equal("nobody@example.com", rejected.Address);
        Assert.Equal(SmtpStatusCode.MailboxUnavailable, rejected.Code);
        Assert.Equal(["first@example.com", "last@example.com"], Assert.Single(server.Messages).Envelope.Recipients.Select(r => r.Address));
    }

    [Fact]
    public async Task MailToPostmasterIsDeliveredWhenTheRecipientPolicyRefusesEveryoneElse()
    {
        // RFC 5321 4.5.1, AlwaysAcceptPostmaster (on by default): the policy below is never asked about postmaster.
        var asked = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = TestServer.Start(o => o.ValidateRecipient = (_, rcpt, _) =>
        {
            asked.Enqueue(rcpt.Address);
            return ValueTask.FromResult(SmtpVerdict.Reject("no such user"));
        });
        var message = NewMessage("Abuse report");
        message.To.Add(MailboxAddress.Parse("Postmaster@example.com"));
        message.To.Add(MailboxAddress.Parse("nobody@example.com"));
        message.Body = new TextPart("plain") { Text = "hello\n" };

        using var client = new TolerantSmtpClient(new RecordingProtocolLogger());
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, Ct);
        await client.SendAsync(message, Ct);
        await client.DisconnectAsync(true, Ct);

        Assert.Equal("nobody@example.com", Assert.Single(client.Rejected).Address);
        Assert.Equal(["Postmaster@example.com"], Assert.Single(server.Messages).Envelope.Recipients.Select(r => r.Address));
        Assert.Equal(["nobody@example.com"], asked);
    }

    [Fact]
    public async Task SeveralMessagesOnOneConnectionEachGetTheirOwnEnvelope()
    {
        await using var server = TestServer.Start();
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, Ct);
        for (var i = 0; i < 3; i++)
        {
            var message = NewMessage($"Message {i}");
            message.To.Add(MailboxAddress.Parse($"rcpt{i}@example.com"));
            message.Body = new TextPart("plain") { Text = $"body {i}\n" };
            await client.SendAsync(message, Ct);
        }

        await client.DisconnectAsync(true, Ct);

        var received = server.Messages.ToArray();
        Assert.Equal(3, received.Length);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal([$"rcpt{i}@example.com"], received[i].Envelope.Recipients.Select(r => r.Address));
            Assert.Equal($"Message {i}", Parse(received[i]).Subject);
        }

        Assert.Single(received.Select(r => r.Session.Id).Distinct());
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static MimeMessage NewMessage(string subject)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@example.com"));
        message.Subject = subject;
        return message;
    }

    private static async Task<RecordingProtocolLogger> SendAsync(TestServer server, MimeMessage message, FormatOptions? options = null)
    {
        var log = new RecordingProtocolLogger();
        using var client = new SmtpClient(log);
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, Ct);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Pipelining));
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Chunking));
        if (options is null)
        {
            await client.SendAsync(message, Ct);
        }
        else
        {
            await client.SendAsync(options, message, Ct);
        }

        await client.DisconnectAsync(true, Ct);
        return log;
    }

    /// <summary>The options MailKit's SmtpClient writes a message with by default, optionally with International.</summary>
    private static FormatOptions SmtpFormatOptions(bool international)
    {
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        options.EnsureNewLine = true;
        options.International = international;
        options.HiddenHeaders.Add(HeaderId.Bcc);
        options.HiddenHeaders.Add(HeaderId.ResentBcc);
        options.HiddenHeaders.Add(HeaderId.ContentLength);
        return options;
    }

    /// <summary>What MimeKit writes for the message with the options MailKit's SmtpClient sends it with.</summary>
    private static byte[] ExpectedBytes(MimeMessage message, bool international = false)
    {
        using var stream = new MemoryStream();
        message.WriteTo(SmtpFormatOptions(international), stream, Ct);
        return stream.ToArray();
    }

    private static MimeMessage Parse(ReceivedMessage received) => MimeMessage.Load(new MemoryStream(received.Content), Ct);

    private static byte[] Decode(MimePart part)
    {
        using var stream = new MemoryStream();
        part.Content!.DecodeTo(stream, Ct);
        return stream.ToArray();
    }

    /// <summary>Records every write and read MailKit makes, one entry per socket operation.</summary>
    private sealed class RecordingProtocolLogger : IProtocolLogger
    {
        private readonly Lock _gate = new();
        private readonly List<byte[]> _clientWrites = [];

        public IAuthenticationSecretDetector? AuthenticationSecretDetector { get; set; }

        /// <summary>Each client write, decoded as UTF-8.</summary>
        public IReadOnlyList<string> ClientWrites
        {
            get
            {
                lock (_gate)
                {
                    return _clientWrites.Select(w => Encoding.UTF8.GetString(w)).ToArray();
                }
            }
        }

        /// <summary>Everything the client sent, decoded as UTF-8.</summary>
        public string ClientText
        {
            get
            {
                lock (_gate)
                {
                    return Encoding.UTF8.GetString(_clientWrites.SelectMany(w => w).ToArray());
                }
            }
        }

        public void LogConnect(Uri uri)
        {
        }

        public void LogClient(byte[] buffer, int offset, int count)
        {
            lock (_gate)
            {
                _clientWrites.Add(buffer.AsSpan(offset, count).ToArray());
            }
        }

        public void LogServer(byte[] buffer, int offset, int count)
        {
        }

        public void Dispose()
        {
        }
    }

    /// <summary>A MailKit client that sends every message with BDAT.</summary>
    private sealed class BdatPreferringSmtpClient(IProtocolLogger logger) : SmtpClient(logger)
    {
        protected override bool PreferSendAsBinaryData => true;
    }

    /// <summary>A MailKit client that notes rejected recipients instead of throwing, and sends to the others.</summary>
    private sealed class TolerantSmtpClient(IProtocolLogger logger) : SmtpClient(logger)
    {
        public List<(string Address, SmtpStatusCode Code)> Rejected { get; } = [];

        protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
            Rejected.Add((mailbox.Address, response.StatusCode));
    }
}
