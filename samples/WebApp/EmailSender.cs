using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Smtpd.Samples.WebApp;

/// <summary>The body of POST /signup.</summary>
public sealed record SignupRequest(string Email);

/// <summary>The "Smtp" configuration section: where the app sends mail.</summary>
public sealed class SmtpSettings
{
    public string Host { get; set; } = "localhost";

    public int Port { get; set; } = 25;

    public string From { get; set; } = "noreply@app.example";

    public Uri PublicUrl { get; set; } = new("https://app.example");
}

/// <summary>Sends the app's mail with MailKit, one connection per message.</summary>
public sealed class EmailSender(IOptions<SmtpSettings> settings)
{
    public async Task SendAsync(string to, string subject, string text, string html, CancellationToken cancellationToken)
    {
        var smtp = settings.Value;
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(smtp.From));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new BodyBuilder { TextBody = text, HtmlBody = html }.ToMessageBody();

        using var client = new SmtpClient();
        await client.ConnectAsync(smtp.Host, smtp.Port, SecureSocketOptions.None, cancellationToken);
        await client.SendAsync(message, cancellationToken);
        await client.DisconnectAsync(quit: true, cancellationToken);
    }
}
