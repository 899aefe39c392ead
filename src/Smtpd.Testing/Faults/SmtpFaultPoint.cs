namespace Smtpd.Testing;

/// <summary>
/// Where in an SMTP conversation a fault can be injected: the connection, each command verb, and the end of a
/// message's content.
/// </summary>
/// <remarks>
/// Command points act before the command runs (through <see cref="SmtpServerOptions.FilterCommand"/>): a rejection
/// is sent instead of the command's own reply and the command has no effect. <see cref="Message"/> acts after the
/// whole content has arrived, where a real server decides whether to take responsibility for the message.
/// </remarks>
public enum SmtpFaultPoint
{
    /// <summary>A new connection, before the greeting: a rejection replaces the <c>220</c> greeting, a delay holds it back.</summary>
    Connect,

    /// <summary>The EHLO command, or LHLO on an LMTP test server (<see cref="SmtpTestServerOptions.UseLmtp"/>).</summary>
    Ehlo,

    /// <summary>The HELO command.</summary>
    Helo,

    /// <summary>The STARTTLS command (RFC 3207); a rejection such as <c>454 4.7.0</c> leaves the connection in plaintext.</summary>
    StartTls,

    /// <summary>The AUTH command (RFC 4954), before any credentials are checked.</summary>
    Auth,

    /// <summary>The MAIL command.</summary>
    Mail,

    /// <summary>Each RCPT command.</summary>
    Rcpt,

    /// <summary>The DATA command itself: a rejection replaces the <c>354</c>, so the client never sends the content.</summary>
    Data,

    /// <summary>Each BDAT command (RFC 3030); a rejected chunk is still read and dropped.</summary>
    Bdat,

    /// <summary>The RSET command.</summary>
    Rset,

    /// <summary>The NOOP command.</summary>
    Noop,

    /// <summary>The QUIT command.</summary>
    Quit,

    /// <summary>The VRFY command.</summary>
    Vrfy,

    /// <summary>The EXPN command.</summary>
    Expn,

    /// <summary>The HELP command.</summary>
    Help,

    /// <summary>
    /// The final reply to a message, after DATA's closing dot or the last BDAT chunk: a rejection or a disconnect
    /// here means the server received the content but did not accept it, and it is not recorded.
    /// </summary>
    Message,
}
