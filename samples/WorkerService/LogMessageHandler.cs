using Microsoft.Extensions.Logging;
using MimeKit;
using Smtpd.Hosting;

namespace Smtpd.Samples.WorkerService;

/// <summary>Logs every message: sender, recipients, subject and size. Resolved in a new scope for each message.</summary>
public sealed partial class LogMessageHandler(ILogger<LogMessageHandler> logger) : ISmtpMimeMessageHandler
{
    public ValueTask<SmtpVerdict> HandleAsync(SmtpMessage message, MimeMessage mime, CancellationToken cancellationToken)
    {
        // The logger formats the recipient list as "a, b".
        LogReceived(logger, message.Envelope.SenderAddress, message.Envelope.Recipients, mime.Subject ?? string.Empty, message.Size);
        return ValueTask.FromResult(SmtpVerdict.Accept);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Mail from {Sender} to {Recipients}: \"{Subject}\" ({Size} bytes)")]
    private static partial void LogReceived(ILogger logger, string sender, IEnumerable<SmtpMailbox> recipients, string subject, long size);
}

/// <summary>Accepts recipients at localhost domains only, the way a real server accepts only the domains it serves.</summary>
public sealed class LocalDomainsOnly : ISmtpRecipientValidator
{
    public ValueTask<SmtpVerdict> ValidateRecipientAsync(SmtpSessionContext session, SmtpMailbox recipient, CancellationToken cancellationToken) =>
        ValueTask.FromResult(recipient.Domain.Equals("localhost", StringComparison.OrdinalIgnoreCase) || recipient.Domain.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
            ? SmtpVerdict.Accept
            : SmtpVerdict.Reject(550, "5.7.1", "Relaying denied"));
}
