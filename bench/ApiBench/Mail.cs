using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using MailKit;
using MailKit.Net.Smtp;
using MimeKit;

namespace Smtpd.ApiBench;

/// <summary>
/// Notes the moment each server reply is read. MailKit calls <see cref="LogServer"/> synchronously as it reads the
/// reply off the socket, so the last call after a send is the moment the client read the 250 of its DATA: the
/// instant a test that waits on /api/v1/wait would consider the message delivered.
/// </summary>
internal sealed class ReplyClock : IProtocolLogger
{
    public long LastReplyTimestamp { get; private set; }

    public string LastReply { get; private set; } = string.Empty;

    public IAuthenticationSecretDetector? AuthenticationSecretDetector { get; set; }

    public void LogConnect(Uri uri)
    {
    }

    public void LogClient(byte[] buffer, int offset, int count)
    {
    }

    public void LogServer(byte[] buffer, int offset, int count)
    {
        LastReplyTimestamp = Stopwatch.GetTimestamp();
        LastReply = Encoding.ASCII.GetString(buffer, offset, count);
    }

    public void Dispose()
    {
    }
}

/// <summary>Messages for the benches, and the SMTP client that sends them.</summary>
internal static class Mail
{
    private static readonly string[] Words = ["lorem", "ipsum", "dolor", "invoice", "order", "shipment", "account", "password", "reset", "welcome", "report", "meeting", "zebra", "quarterly", "delivery"];

    public static async Task<SmtpClient> ConnectAsync(IPEndPoint server, IProtocolLogger? logger = null)
    {
        var client = logger is null ? new SmtpClient() : new SmtpClient(logger);
        await client.ConnectAsync(server.Address.ToString(), server.Port, MailKit.Security.SecureSocketOptions.None);
        return client;
    }

    /// <summary>An ordinary small message: 1,000 senders, 5,000 recipients, a few kinds of subject, 50 to 300 words.</summary>
    public static MimeMessage Ordinary(int n, Random random)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse($"sender{n % 1000}@example.com"));
        message.To.Add(MailboxAddress.Parse($"user{random.Next(5000)}@example.org"));
        message.Subject = (n % 5) switch
        {
            0 => $"Invoice {n}",
            1 => $"Your order {random.Next(100000)} has shipped",
            2 => "Password reset",
            3 => $"Meeting notes {n % 97}",
            _ => "Welcome aboard",
        };
        var body = new StringBuilder();
        var words = 50 + random.Next(250);
        for (var i = 0; i < words; i++)
        {
            body.Append(Words[random.Next(Words.Length)]).Append(i % 12 == 11 ? "\r\n" : " ");
        }

        message.Body = new TextPart("plain") { Text = body.ToString() };
        return message;
    }

    /// <summary>Stores <paramref name="count"/> ordinary messages over <paramref name="connections"/> SMTP connections at once.</summary>
    public static async Task FillAsync(IPEndPoint server, int first, int count, int connections = 8)
    {
        if (count <= 0)
        {
            return;
        }

        var next = first - 1;
        var last = first + count - 1;
        await Task.WhenAll(Enumerable.Range(0, connections).Select(async worker =>
        {
            var random = new Random(worker * 7919 + first);
            using var client = await ConnectAsync(server);
            int n;
            while ((n = Interlocked.Increment(ref next)) <= last)
            {
                await client.SendAsync(Ordinary(n, random));
            }

            await client.DisconnectAsync(quit: true);
        }));
    }

    /// <summary>A message whose text body is <paramref name="size"/> octets of ASCII lines (so /view/{ID}.txt is that large too).</summary>
    public static MimeMessage LargeText(int size)
    {
        var text = new StringBuilder(size + 100);
        var random = new Random(3);
        var line = 0;
        while (text.Length < size)
        {
            text.Append(Words[random.Next(Words.Length)]);
            text.Append(++line % 10 == 0 ? "\r\n" : " ");
        }

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("large@example.com"));
        message.To.Add(MailboxAddress.Parse("download@example.org"));
        message.Subject = "large text body";
        message.Body = new TextPart("plain") { Text = text.ToString(0, size), ContentTransferEncoding = ContentEncoding.SevenBit };
        return message;
    }

    /// <summary>A short text with one attachment of <paramref name="size"/> random octets (base64 on the wire).</summary>
    public static MimeMessage LargeAttachment(int size)
    {
        var bytes = new byte[size];
        new Random(5).NextBytes(bytes);
        var builder = new BodyBuilder { TextBody = "see the attachment" };
        builder.Attachments.Add("data.bin", bytes, new ContentType("application", "octet-stream"));
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("large@example.com"));
        message.To.Add(MailboxAddress.Parse("download@example.org"));
        message.Subject = "large attachment";
        message.Body = builder.ToMessageBody();
        return message;
    }

    /// <summary>The store id from the catcher's reply, <c>250 2.0.0 Ok: stored as 42</c>.</summary>
    public static string StoredId(string reply)
    {
        const string Marker = "stored as ";
        var at = reply.LastIndexOf(Marker, StringComparison.Ordinal);
        return at < 0 ? throw new InvalidOperationException("no id in the reply: " + reply) : reply[(at + Marker.Length)..].Trim();
    }

    public static string Format(double value) => value.ToString("F2", CultureInfo.InvariantCulture);
}
