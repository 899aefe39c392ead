using System.Text;

namespace Smtpd;

/// <summary>
/// A mailbox from a MAIL or RCPT path (RFC 5321 section 4.1.2), with any source route already removed.
/// </summary>
/// <remarks>
/// Both parts are kept exactly as the client wrote them: a quoted local part keeps its quotes and
/// backslashes, and an address literal keeps its brackets, so <see cref="Address"/> is a valid RFC 5321
/// mailbox that can be sent on unchanged. Domains compare case-insensitively; local parts are
/// case-sensitive (RFC 5321 2.4), except the special recipient <c>Postmaster</c>.
/// <para>
/// A recipient also carries the DSN parameters of its RCPT command in <see cref="Dsn"/>, so the recipient list of an
/// <see cref="SmtpEnvelope"/> and the recipient a <see cref="RecipientValidator"/> sees both have them at hand.
/// Equality compares the address only.
/// </para>
/// </remarks>
public sealed class SmtpMailbox : IEquatable<SmtpMailbox>
{
    internal SmtpMailbox(string localPart, string domain)
        : this(localPart, domain, domain.Length == 0 ? localPart : string.Concat(localPart, "@", domain), dsn: null)
    {
    }

    private SmtpMailbox(string localPart, string domain, string address, SmtpRecipientDsn? dsn)
    {
        LocalPart = localPart;
        Domain = domain;
        Address = address;
        Dsn = dsn;
    }

    /// <summary>The local part, as written (quoted if it was quoted).</summary>
    public string LocalPart { get; }

    /// <summary>The domain or address literal (with brackets); empty only for the bare <c>&lt;Postmaster&gt;</c> recipient.</summary>
    public string Domain { get; }

    /// <summary>The whole mailbox, <c>local@domain</c>.</summary>
    public string Address { get; }

    /// <summary>
    /// The RFC 3461 <c>NOTIFY</c> and <c>ORCPT</c> parameters of the RCPT command that named this recipient;
    /// <see langword="null"/> when it had neither, and always for a sender (whose <c>RET</c> and <c>ENVID</c> are on
    /// the <see cref="SmtpEnvelope"/>). Set only when <see cref="SmtpServerOptions.EnableDsn"/> is on.
    /// </summary>
    public SmtpRecipientDsn? Dsn { get; }

    /// <summary>
    /// The same mailbox carrying one RCPT's DSN parameters. A mailbox is immutable, because a session reuses the
    /// mailbox of a repeated path (<see cref="Parsing.MailboxCache"/>); the copy shares the address strings.
    /// </summary>
    internal SmtpMailbox WithDsn(SmtpRecipientDsn dsn) => new(LocalPart, Domain, Address, dsn);

    /// <summary>Whether this is the RFC 5321 4.5.1 <c>Postmaster</c> mailbox, in any letter case.</summary>
    public bool IsPostmaster => LocalPart.Equals("Postmaster", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the local part or the domain contains non-ASCII characters (RFC 6531).</summary>
    public bool IsInternationalized => !Ascii.IsValid(Address);

    /// <inheritdoc/>
    public override string ToString() => Address;

    /// <inheritdoc/>
    public bool Equals(SmtpMailbox? other) =>
        other is not null
        && string.Equals(LocalPart, other.LocalPart, StringComparison.Ordinal)
        && string.Equals(Domain, other.Domain, StringComparison.OrdinalIgnoreCase);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as SmtpMailbox);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(
        StringComparer.Ordinal.GetHashCode(LocalPart),
        StringComparer.OrdinalIgnoreCase.GetHashCode(Domain));
}
