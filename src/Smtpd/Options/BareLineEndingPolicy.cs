namespace Smtpd;

/// <summary>
/// What the server does with a CR or LF that is not part of a CRLF pair inside message content.
/// Neither policy ever ends DATA on anything but CRLF.CRLF (RFC 5321 4.1.1.4), which is what
/// defeats SMTP smuggling; the policy only decides what happens to the message.
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
    /// <c>smtpd_forbid_bare_newline = normalize</c> does. A lone dot after a bare line ending stays
    /// content; it never ends the data.
    /// </summary>
    Normalize,
}
