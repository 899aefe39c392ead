using System.Text;
using Smtpd.Protocol.Commands;

namespace Smtpd.Parsing;

/// <summary>
/// What one session's parser reuses from line to line, so that a transaction's commands allocate nothing once the
/// session is warm: one instance of each command that carries arguments, and the mailboxes of recent paths.
/// </summary>
/// <remarks>
/// A session parses a line and executes it before it parses the next one, so a reused command object is never read
/// after it has been overwritten. Everything is created on first use: an idle session that never sends MAIL holds
/// only this object.
/// </remarks>
internal sealed class CommandCache
{
    private MailCommand? _mail;
    private RcptCommand? _rcpt;
    private BdatCommand? _bdat;
    private MailboxCache? _mailboxes;

    public MailCommand Mail => _mail ??= new MailCommand();

    public RcptCommand Rcpt => _rcpt ??= new RcptCommand();

    public BdatCommand Bdat => _bdat ??= new BdatCommand();

    public MailboxCache Mailboxes => _mailboxes ??= new MailboxCache();
}

/// <summary>
/// The mailboxes of the last few paths a session sent, found again by their exact octets. A client that sends many
/// messages on one connection repeats its MAIL FROM and often its RCPT TO; the second time, the parser hands back
/// the same immutable <see cref="SmtpMailbox"/> instead of decoding three new strings. This is Kestrel's string
/// reuse (<c>KestrelServerOptions.DisableStringReuse</c>: a header value whose octets equal the previous request's
/// reuses its string) applied to SMTP paths.
/// </summary>
internal sealed class MailboxCache
{
    /// <summary>Enough for the sender and the recipients of a typical transaction; searched linearly.</summary>
    internal const int Capacity = 8;

    private readonly byte[]?[] _octets = new byte[Capacity][];
    private readonly int[] _localPartLengths = new int[Capacity];
    private readonly SmtpMailbox?[] _mailboxes = new SmtpMailbox[Capacity];
    private int _next;

    /// <summary>The mailbox for these octets: a cached one if they are exactly a recent path's, else a new one, remembered.</summary>
    /// <param name="localPart">The local part as written (valid UTF-8).</param>
    /// <param name="domain">The domain as written (valid UTF-8), or empty for <c>&lt;Postmaster&gt;</c>.</param>
    /// <returns>The mailbox.</returns>
    public SmtpMailbox GetOrCreate(ReadOnlySpan<byte> localPart, ReadOnlySpan<byte> domain)
    {
        for (var i = 0; i < Capacity; i++)
        {
            // Exact octets, case included: a cached mailbox must read exactly as the client wrote this path.
            if (_octets[i] is { } octets
                && octets.Length == localPart.Length + domain.Length
                && _localPartLengths[i] == localPart.Length
                && octets.AsSpan(0, localPart.Length).SequenceEqual(localPart)
                && octets.AsSpan(localPart.Length).SequenceEqual(domain))
            {
                return _mailboxes[i]!;
            }
        }

        var mailbox = Create(localPart, domain);
        var copy = new byte[localPart.Length + domain.Length];
        localPart.CopyTo(copy);
        domain.CopyTo(copy.AsSpan(localPart.Length));
        _octets[_next] = copy;
        _localPartLengths[_next] = localPart.Length;
        _mailboxes[_next] = mailbox;
        _next = (_next + 1) % Capacity;
        return mailbox;
    }

    /// <summary>A new mailbox, decoding both parts.</summary>
    public static SmtpMailbox Create(ReadOnlySpan<byte> localPart, ReadOnlySpan<byte> domain) =>
        new(Encoding.UTF8.GetString(localPart), domain.IsEmpty ? string.Empty : Encoding.UTF8.GetString(domain));
}
