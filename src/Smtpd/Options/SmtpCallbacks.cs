using MimeKit;

namespace Smtpd;

/// <summary>Decides whether a newly accepted connection may use the server (Tcl smtpd <c>-validate_host</c>).</summary>
/// <param name="session">The connection; <see cref="SmtpSessionContext.RemoteEndPoint"/> is the client's address.</param>
/// <param name="cancellationToken">Cancelled when the server shuts down or the connection closes.</param>
/// <returns>The verdict; a rejection's reason is sent as <c>550 Access denied: reason</c>.</returns>
public delegate ValueTask<SmtpVerdict> HostValidator(SmtpSessionContext session, CancellationToken cancellationToken);

/// <summary>Decides whether to accept a MAIL command (Tcl smtpd <c>-validate_sender</c>).</summary>
/// <param name="session">The connection.</param>
/// <param name="sender">The reverse-path, or <see langword="null"/> for <c>&lt;&gt;</c>.</param>
/// <param name="cancellationToken">Cancelled when the server shuts down or the connection closes.</param>
/// <returns>The verdict.</returns>
public delegate ValueTask<SmtpVerdict> SenderValidator(SmtpSessionContext session, SmtpMailbox? sender, CancellationToken cancellationToken);

/// <summary>Decides whether to accept a RCPT command (Tcl smtpd <c>-validate_recipient</c>).</summary>
/// <param name="session">The connection.</param>
/// <param name="recipient">The forward-path.</param>
/// <param name="cancellationToken">Cancelled when the server shuts down or the connection closes.</param>
/// <returns>The verdict.</returns>
public delegate ValueTask<SmtpVerdict> RecipientValidator(SmtpSessionContext session, SmtpMailbox recipient, CancellationToken cancellationToken);

/// <summary>Receives a message with its exact raw bytes (<see cref="SmtpMessage.OpenRead"/>).</summary>
/// <param name="message">The envelope, the session and the content.</param>
/// <param name="cancellationToken">Cancelled when the server shuts down or the connection closes.</param>
/// <returns>The verdict; the client gets 250 only after an accepting verdict.</returns>
public delegate ValueTask<SmtpVerdict> MessageDeliverer(SmtpMessage message, CancellationToken cancellationToken);

/// <summary>Receives a message parsed by MimeKit (Tcl smtpd <c>-deliverMIME</c>).</summary>
/// <param name="message">The envelope, the session and the raw content.</param>
/// <param name="mime">The parsed message. It reads its parts from the spooled content, so it is valid only until the callback completes.</param>
/// <param name="cancellationToken">Cancelled when the server shuts down or the connection closes.</param>
/// <returns>The verdict.</returns>
public delegate ValueTask<SmtpVerdict> MimeMessageDeliverer(SmtpMessage message, MimeMessage mime, CancellationToken cancellationToken);

/// <summary>Receives a message as text lines (Tcl smtpd <c>-deliver</c>).</summary>
/// <param name="sender">The sender's address; empty for <c>&lt;&gt;</c>.</param>
/// <param name="recipients">Every recipient's address.</param>
/// <param name="lines">The content split at CRLF and decoded as UTF-8, without line endings.</param>
/// <param name="session">The connection.</param>
/// <param name="cancellationToken">Cancelled when the server shuts down or the connection closes.</param>
/// <returns>The verdict.</returns>
public delegate ValueTask<SmtpVerdict> LinesDeliverer(string sender, IReadOnlyList<string> recipients, IReadOnlyList<string> lines, SmtpSessionContext session, CancellationToken cancellationToken);
