namespace Smtpd.Protocol;

/// <summary>The command verbs the server knows (RFC 5321 section 4.1 and its extensions).</summary>
internal enum SmtpVerb : byte
{
    Unknown,
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth,

    /// <summary>LHLO (RFC 2033 4.1), the LMTP greeting; a verb only on LMTP listeners, an unknown command elsewhere.</summary>
    Lhlo,

    /// <summary>An HTTP request line (GET, POST, HEAD, PUT, CONNECT, ...): another protocol on the SMTP port.</summary>
    Forbidden,
}
