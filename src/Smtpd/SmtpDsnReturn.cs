namespace Smtpd;

/// <summary>The RFC 3461 <c>RET</c> parameter of MAIL: how much of the message a delivery status notification should return.</summary>
public enum SmtpDsnReturn
{
    /// <summary>No <c>RET</c> parameter: the choice is left to the server that would send the notification.</summary>
    None,

    /// <summary><c>RET=FULL</c>: the whole message (RFC 3461 4.3).</summary>
    Full,

    /// <summary><c>RET=HDRS</c>: the message headers only (RFC 3461 4.3).</summary>
    Headers,
}
