using MailKit.Security;

namespace Smtpd.Testing.Tests.Support;

/// <summary>Builds messages and sends them with MailKit, the way an application would.</summary>
public static class Mail
{
    public static MimeMessage Create(string from = "alice@example.com", string to = "bob@example.com", string subject = "Hello", string body = "Hi Bob.\r\n", string? html = null)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        foreach (var recipient in to.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            message.To.Add(MailboxAddress.Parse(recipient));
        }

        message.Subject = subject;
        var builder = new BodyBuilder { TextBody = body, HtmlBody = html };
        message.Body = builder.ToMessageBody();
        return message;
    }

    /// <summary>A MailKit client connected to the test server (with TLS as the server offers it) and ready to send.</summary>
    public static async Task<SmtpClient> ConnectAsync(SmtpTestServer smtp, int timeoutMilliseconds = 10_000, bool authenticate = true)
    {
        var client = new SmtpClient { LocalDomain = "client.test", Timeout = timeoutMilliseconds, ServerCertificateValidationCallback = smtp.ValidateServerCertificate };
        try
        {
            var security = smtp.Tls switch
            {
                SmtpTlsMode.StartTls => SecureSocketOptions.StartTls,
                SmtpTlsMode.ImplicitTls => SecureSocketOptions.SslOnConnect,
                _ => SecureSocketOptions.None,
            };
            await client.ConnectAsync(smtp.Host, smtp.Port, security, TestContext.Current.CancellationToken);
            if (authenticate && smtp.Credentials is { } credentials)
            {
                await client.AuthenticateAsync(credentials, TestContext.Current.CancellationToken);
            }

            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Connects, sends one message and disconnects politely.</summary>
    public static async Task<string> SendAsync(SmtpTestServer smtp, MimeMessage? message = null, int timeoutMilliseconds = 10_000)
    {
        using var client = await ConnectAsync(smtp, timeoutMilliseconds);
        var response = await client.SendAsync(message ?? Create(), TestContext.Current.CancellationToken);
        await client.DisconnectAsync(quit: true, TestContext.Current.CancellationToken);
        return response;
    }
}
