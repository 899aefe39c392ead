namespace Smtpd;

/// <summary>The protocol a listener speaks (<see cref="SmtpListener.Protocol"/>).</summary>
public enum SmtpListenerProtocol
{
    /// <summary>SMTP with its service extensions (RFC 5321): EHLO or HELO, and one reply to the end of data.</summary>
    Smtp,

    /// <summary>
    /// LMTP (RFC 2033), for handing mail to a final delivery agent that keeps no queue: LHLO instead of EHLO and
    /// HELO, and after the end of data one reply per accepted recipient, in RCPT order, so that each recipient can
    /// be accepted or refused on its own (<see cref="SmtpMessage.SetRecipientVerdict(int, SmtpVerdict)"/>).
    /// RFC 2033 forbids it on TCP port 25.
    /// </summary>
    Lmtp,
}
