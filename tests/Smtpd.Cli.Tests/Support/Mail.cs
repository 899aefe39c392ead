using System.Net;
using System.Security.Cryptography;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Smtpd.Cli.Tests.Support;

/// <summary>Sends mail with MailKit, a real client.</summary>
public static class Mail
{
    public static MimeMessage Simple(string subject = "Hello", string from = "alice@example.com", string to = "bob@example.com", string body = "Hi Bob,\r\nhow are you?\r\n")
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Date = new DateTimeOffset(2025, 1, 31, 14, 0, 0, TimeSpan.Zero);
        message.MessageId = $"{Guid.NewGuid():N}@example.com";
        message.Body = new TextPart("plain") { Text = body };
        return message;
    }

    /// <summary>Connects, optionally authenticates, sends and quits; returns the server's reply to the content.</summary>
    public static async Task<string> SendAsync(IPEndPoint endpoint, MimeMessage message, SecureSocketOptions security = SecureSocketOptions.None, (string User, string Password)? credentials = null, Action<SmtpClient>? configure = null)
    {
        using var client = new SmtpClient { Timeout = 30_000 };
        client.ServerCertificateValidationCallback = (_, _, _, _) => true;
        configure?.Invoke(client);
        await client.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, security);
        if (credentials is { } c)
        {
            await client.AuthenticateAsync(c.User, c.Password);
        }

        var reply = await client.SendAsync(message);
        await client.DisconnectAsync(true);
        return reply;
    }

    public static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));
}
