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
/// <returns>
/// The verdict; the client gets 250 only after an accepting verdict. It applies to every recipient that has no verdict
/// of its own from <see cref="SmtpMessage.SetRecipientVerdict(int, SmtpVerdict)"/>.
/// </returns>
public delegate ValueTask<SmtpVerdict> MessageDeliverer(SmtpMessage message, CancellationToken cancellationToken);

/// <summary>Receives a message parsed by MimeKit (Tcl smtpd <c>-deliverMIME</c>).</summary>
/// <param name="message">The envelope, the session and the raw content.</param>
/// <param name="mime">The parsed message. It reads its parts from the spooled content, so it is valid only until the callback completes.</param>
/// <param name="cancellationToken">Cancelled when the server shuts down or the connection closes.</param>
/// <returns>The verdict, for every recipient that has no verdict of its own from <see cref="SmtpMessage.SetRecipientVerdict(int, SmtpVerdict)"/>.</returns>
public delegate ValueTask<SmtpVerdict> MimeMessageDeliverer(SmtpMessage message, MimeMessage mime, CancellationToken cancellationToken);

/// <summary>Receives a message as text lines (Tcl smtpd <c>-deliver</c>).</summary>
/// <param name="sender">The sender's address; empty for <c>&lt;&gt;</c>.</param>
/// <param name="recipients">Every recipient's address.</param>
/// <param name="lines">The content split at CRLF and decoded as UTF-8, without line endings.</param>
/// <param name="session">The connection.</param>
/// <param name="cancellationToken">Cancelled when the server shuts down or the connection closes.</param>
/// <returns>The verdict, for every recipient (on an LMTP listener too: this form cannot set per-recipient verdicts).</returns>
public delegate ValueTask<SmtpVerdict> LinesDeliverer(string sender, IReadOnlyList<string> recipients, IReadOnlyList<string> lines, SmtpSessionContext session, CancellationToken cancellationToken);

/// <summary>Checks the credentials of an AUTH command (RFC 4954).</summary>
/// <param name="session">The connection.</param>
/// <param name="credentials">The mechanism, identity and password or token.</param>
/// <param name="cancellationToken">Cancelled when the server shuts down or the connection closes.</param>
/// <returns>Accept, or reject (the client gets <c>535 5.7.8</c> unless the verdict carries its own reply).</returns>
public delegate ValueTask<SmtpVerdict> Authenticator(SmtpSessionContext session, SmtpAuthentication credentials, CancellationToken cancellationToken);

/// <summary>Chooses the TLS certificate for a connection, from the SNI host name the client asked for.</summary>
/// <param name="session">The connection.</param>
/// <param name="hostName">The SNI name, or <see langword="null"/> when the client sent none.</param>
/// <returns>The certificate, with its private key; <see langword="null"/> falls back to <see cref="SmtpServerOptions.ServerCertificate"/>.</returns>
public delegate System.Security.Cryptography.X509Certificates.X509Certificate2? ServerCertificateSelector(SmtpSessionContext session, string? hostName);

/// <summary>
/// Sees every well-formed command that the session is about to run, after the sequence checks, and may refuse it
/// or drop the connection. Used for fault injection (Smtpd.Testing) and per-command policy.
/// </summary>
/// <param name="session">The connection.</param>
/// <param name="verb">The command verb in upper case: EHLO, HELO, MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT, VRFY, EXPN, HELP, STARTTLS or AUTH, and LHLO on LMTP listeners.</param>
/// <param name="cancellationToken">Cancelled when the server shuts down or the connection closes.</param>
/// <returns>Accept to run the command; a rejection is sent instead of running it (<c>550 5.7.1 Command rejected</c> unless it carries a reply); <see cref="SmtpVerdict.Disconnect"/> drops the connection.</returns>
public delegate ValueTask<SmtpVerdict> CommandFilter(SmtpSessionContext session, string verb, CancellationToken cancellationToken);
