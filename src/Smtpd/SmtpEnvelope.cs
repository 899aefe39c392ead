namespace Smtpd;

/// <summary>The envelope of one mail transaction: the MAIL and RCPT commands the server accepted.</summary>
public sealed class SmtpEnvelope
{
    internal SmtpEnvelope(SmtpMailbox? sender, IReadOnlyList<SmtpMailbox> recipients, SmtpBodyType body, bool smtpUtf8, long? declaredSize, SmtpDsnReturn dsnReturn, string? dsnEnvelopeId)
    {
        Sender = sender;
        Recipients = recipients;
        Body = body;
        SmtpUtf8 = smtpUtf8;
        DeclaredSize = declaredSize;
        DsnReturn = dsnReturn;
        DsnEnvelopeId = dsnEnvelopeId;
    }

    /// <summary>The reverse-path; <see langword="null"/> for the null path <c>&lt;&gt;</c> used by bounces (RFC 5321 4.5.5).</summary>
    public SmtpMailbox? Sender { get; }

    /// <summary>The sender's address, or the empty string for <c>&lt;&gt;</c>.</summary>
    public string SenderAddress => Sender?.Address ?? string.Empty;

    /// <summary>
    /// Every accepted recipient, in RCPT order, including those absent from the headers (Bcc). Each one's RFC 3461
    /// <c>NOTIFY</c> and <c>ORCPT</c> parameters are in its <see cref="SmtpMailbox.Dsn"/>.
    /// </summary>
    public IReadOnlyList<SmtpMailbox> Recipients { get; }

    /// <summary>The declared body type.</summary>
    public SmtpBodyType Body { get; }

    /// <summary>Whether MAIL carried the SMTPUTF8 parameter (RFC 6531).</summary>
    public bool SmtpUtf8 { get; }

    /// <summary>The RFC 1870 SIZE the client declared, if any.</summary>
    public long? DeclaredSize { get; }

    /// <summary>The RFC 3461 <c>RET</c> parameter of MAIL; <see cref="SmtpDsnReturn.None"/> when absent.</summary>
    public SmtpDsnReturn DsnReturn { get; }

    /// <summary>
    /// The RFC 3461 <c>ENVID</c> parameter of MAIL, decoded from xtext (printable US-ASCII, at most 100 characters);
    /// <see langword="null"/> when absent.
    /// </summary>
    public string? DsnEnvelopeId { get; }
}
