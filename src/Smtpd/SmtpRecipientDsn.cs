namespace Smtpd;

/// <summary>
/// The RFC 3461 parameters of one RCPT command, <c>NOTIFY</c> and <c>ORCPT</c>, as <see cref="SmtpMailbox.Dsn"/>
/// carries them. A recipient whose RCPT had neither has no instance at all.
/// </summary>
public sealed class SmtpRecipientDsn
{
    internal SmtpRecipientDsn(SmtpDsnNotify notify, string? originalRecipientType, string? originalRecipient)
    {
        Notify = notify;
        OriginalRecipientType = originalRecipientType;
        OriginalRecipient = originalRecipient;
    }

    /// <summary>The <c>NOTIFY</c> parameter; <see cref="SmtpDsnNotify.None"/> when the RCPT had none.</summary>
    public SmtpDsnNotify Notify { get; }

    /// <summary>
    /// The address type of the <c>ORCPT</c> parameter as the client wrote it, such as <c>rfc822</c> or <c>utf-8</c>
    /// (RFC 3461 4.2, RFC 6533); <see langword="null"/> without <c>ORCPT</c>. Address types compare case-insensitively.
    /// </summary>
    public string? OriginalRecipientType { get; }

    /// <summary>
    /// The original recipient address of the <c>ORCPT</c> parameter, decoded from xtext (or, for the <c>utf-8</c>
    /// type, from RFC 6533's <c>\x{HEX}</c> form); <see langword="null"/> without <c>ORCPT</c>. It never contains a
    /// control character: the parser refuses any that the encoding would smuggle in.
    /// </summary>
    public string? OriginalRecipient { get; }
}
