namespace Smtpd;

/// <summary>
/// What the server does with a CR or LF that is not part of a CRLF pair inside message content.
/// Neither policy ever ends DATA successfully on anything but CRLF.CRLF (RFC 5321 4.1.1.4), which is what
/// defeats SMTP smuggling; the policy only decides what happens to the message. Under both, a line holding only a
/// dot with a bare CR or LF on either side (<c>LF . LF</c>, <c>CRLF . LF</c>, <c>LF . CRLF</c>, a bare CR likewise)
/// gets <c>421 4.5.0</c> at once and the connection closes: a client that ends lines with LF means it as its end of
/// data and would otherwise wait for a reply until the data timeout, while a smuggler means the octets after it as
/// commands, which are never read.
/// </summary>
public enum BareLineEndingPolicy
{
    /// <summary>
    /// The default. Read to the real end of data, then reject the message with
    /// <c>550 5.6.0</c>: RFC 5321 2.3.8 forbids bare CR and LF, and a message that carries them is the
    /// signature of a smuggling attempt. Nothing is delivered.
    /// </summary>
    Reject,

    /// <summary>
    /// Accept the message and turn every bare CR and bare LF into CRLF, as Postfix's
    /// <c>smtpd_forbid_bare_newline = normalize</c> does: a line after a bare ending is a line like any other, so a
    /// stuffed dot on it is removed (RFC 5321 4.5.2), as a client that ends lines with LF, such as Python's smtplib
    /// sending bytes, expects.
    /// </summary>
    Normalize,
}
