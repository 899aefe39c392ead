namespace Smtpd;

/// <summary>
/// The RFC 3461 <c>NOTIFY</c> parameter of RCPT: when a delivery status notification is wanted for a recipient.
/// </summary>
/// <remarks>
/// <see cref="Never"/> stands alone; the other three combine (RFC 3461 4.1). <see cref="None"/> means the RCPT
/// carried no <c>NOTIFY</c>, which RFC 3461 4.1 reads as <c>FAILURE</c> or <c>FAILURE,DELAY</c> at the
/// server's choice.
/// </remarks>
[Flags]
public enum SmtpDsnNotify
{
    /// <summary>No <c>NOTIFY</c> parameter.</summary>
    None = 0,

    /// <summary><c>NOTIFY=NEVER</c>: no notification, whatever happens.</summary>
    Never = 1,

    /// <summary><c>SUCCESS</c>: a notification on successful delivery.</summary>
    Success = 2,

    /// <summary><c>FAILURE</c>: a notification when delivery fails.</summary>
    Failure = 4,

    /// <summary><c>DELAY</c>: a notification when delivery is delayed.</summary>
    Delay = 8,
}
