using MimeKit;

namespace Smtpd.Hosting;

/// <summary>
/// Receives each message as raw bytes (<see cref="SmtpMessage.OpenRead"/>). Registered with
/// <see cref="SmtpdBuilder.AddMessageHandler{THandler}"/> and resolved in a new DI scope for each message, so it
/// may depend on scoped services such as a <c>DbContext</c>.
/// </summary>
public interface ISmtpMessageHandler
{
    /// <summary>Handles one message.</summary>
    /// <param name="message">The envelope, the session and the content, valid until the returned task completes.</param>
    /// <param name="cancellationToken">Cancelled when the server stops or the client disconnects.</param>
    /// <returns>Accept to answer 250; a rejection stops the handlers that follow and is sent to the client.</returns>
    ValueTask<SmtpVerdict> HandleAsync(SmtpMessage message, CancellationToken cancellationToken);
}

/// <summary>
/// Receives each message parsed by MimeKit. Registered with <see cref="SmtpdBuilder.AddMimeMessageHandler{THandler}"/>
/// and resolved in the message's DI scope; the message is parsed once for all such handlers.
/// </summary>
public interface ISmtpMimeMessageHandler
{
    /// <summary>Handles one message.</summary>
    /// <param name="message">The envelope and the session.</param>
    /// <param name="mime">The parsed message, valid until the returned task completes.</param>
    /// <param name="cancellationToken">Cancelled when the server stops or the client disconnects.</param>
    /// <returns>Accept to answer 250; a rejection stops the handlers that follow and is sent to the client.</returns>
    ValueTask<SmtpVerdict> HandleAsync(SmtpMessage message, MimeMessage mime, CancellationToken cancellationToken);
}

/// <summary>Decides whether a connection may use the server (<see cref="SmtpServerOptions.ValidateHost"/>), in a DI scope of its own.</summary>
public interface ISmtpHostValidator
{
    /// <summary>Checks the client.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="cancellationToken">Cancelled when the server stops or the client disconnects.</param>
    /// <returns>The verdict; the first rejection among the validators wins.</returns>
    ValueTask<SmtpVerdict> ValidateHostAsync(SmtpSessionContext session, CancellationToken cancellationToken);
}

/// <summary>Decides whether to accept a MAIL command (<see cref="SmtpServerOptions.ValidateSender"/>), in a DI scope of its own.</summary>
public interface ISmtpSenderValidator
{
    /// <summary>Checks the sender.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="sender">The reverse-path, or <see langword="null"/> for <c>&lt;&gt;</c>.</param>
    /// <param name="cancellationToken">Cancelled when the server stops or the client disconnects.</param>
    /// <returns>The verdict; the first rejection among the validators wins.</returns>
    ValueTask<SmtpVerdict> ValidateSenderAsync(SmtpSessionContext session, SmtpMailbox? sender, CancellationToken cancellationToken);
}

/// <summary>Decides whether to accept a RCPT command (<see cref="SmtpServerOptions.ValidateRecipient"/>), in a DI scope of its own.</summary>
public interface ISmtpRecipientValidator
{
    /// <summary>Checks one recipient.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="recipient">The forward-path.</param>
    /// <param name="cancellationToken">Cancelled when the server stops or the client disconnects.</param>
    /// <returns>The verdict; the first rejection among the validators wins.</returns>
    ValueTask<SmtpVerdict> ValidateRecipientAsync(SmtpSessionContext session, SmtpMailbox recipient, CancellationToken cancellationToken);
}

/// <summary>Checks AUTH credentials (<see cref="SmtpServerOptions.Authenticate"/>), in a DI scope of its own. Registering one offers AUTH.</summary>
public interface ISmtpAuthenticator
{
    /// <summary>Checks the credentials.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="credentials">The mechanism, identity and password or token.</param>
    /// <param name="cancellationToken">Cancelled when the server stops or the client disconnects.</param>
    /// <returns>The verdict; authenticators are asked in order until one accepts.</returns>
    ValueTask<SmtpVerdict> AuthenticateAsync(SmtpSessionContext session, SmtpAuthentication credentials, CancellationToken cancellationToken);
}
