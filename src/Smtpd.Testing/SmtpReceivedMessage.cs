using System.Text;
using MimeKit;

namespace Smtpd.Testing;

/// <summary>
/// A message the test server accepted: its envelope, its exact bytes, the MimeKit parse of them (made on first
/// use), and the connection it came in on. Immutable and safe to read from any thread.
/// </summary>
public sealed class SmtpReceivedMessage
{
    private readonly byte[] _raw;
    private readonly Lazy<MimeMessage> _mime;

    internal SmtpReceivedMessage(SmtpEnvelope envelope, byte[] raw, SmtpTestSession session, DateTimeOffset receivedAt)
    {
        Envelope = envelope;
        _raw = raw;
        Session = session;
        ReceivedAt = receivedAt;
        To = envelope.Recipients.Select(r => r.Address).ToArray();
        _mime = new Lazy<MimeMessage>(() =>
        {
            using var stream = new MemoryStream(_raw, writable: false);
            return MimeMessage.Load(stream);
        }, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The envelope: the MAIL sender and every accepted RCPT recipient, Bcc included.</summary>
    public SmtpEnvelope Envelope { get; }

    /// <summary>The envelope sender's address; empty for the null sender <c>&lt;&gt;</c>.</summary>
    public string From => Envelope.SenderAddress;

    /// <summary>The envelope recipients' addresses, in RCPT order.</summary>
    public IReadOnlyList<string> To { get; }

    /// <summary>The exact content bytes as received (after dot-unstuffing), headers included.</summary>
    public ReadOnlyMemory<byte> Raw => _raw;

    /// <summary>The content decoded as UTF-8, for quick looks; use <see cref="Mime"/> to read headers and parts.</summary>
    public string RawText => Encoding.UTF8.GetString(_raw);

    /// <summary>The message parsed by MimeKit on first access (the parse is cached). Treat it as read-only.</summary>
    public MimeMessage Mime => _mime.Value;

    /// <summary>The Subject header, decoded; empty when there is none.</summary>
    public string Subject => Mime.Subject ?? string.Empty;

    /// <summary>The readable body: the text/plain part, else the HTML part reduced to text; empty when there is neither.</summary>
    public string Text => MessageText.GetText(Mime);

    /// <summary>The connection the message came in on.</summary>
    public SmtpTestSession Session { get; }

    /// <summary>When the end of the content arrived.</summary>
    public DateTimeOffset ReceivedAt { get; }

    /// <summary>Opens a read-only stream over <see cref="Raw"/>.</summary>
    /// <returns>A new stream at the start of the content.</returns>
    public Stream OpenRead() => new MemoryStream(_raw, writable: false);

    /// <summary>Whether <paramref name="address"/> is one of the envelope recipients (compared without regard to letter case).</summary>
    /// <param name="address">An address such as <c>bob@example.com</c>.</param>
    /// <returns><see langword="true"/> when the message was sent to it.</returns>
    public bool IsTo(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return To.Any(to => to.Equals(address, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// The first http or https link in the body: the HTML part's first <c>href</c> when there is an HTML part, else
    /// the first URL in the text part. For confirmation-link tests.
    /// </summary>
    /// <param name="predicate">Picks among the links, such as <c>u =&gt; u.AbsolutePath.StartsWith("/confirm")</c>; <see langword="null"/> for any.</param>
    /// <returns>The link, or <see langword="null"/> when there is none.</returns>
    public Uri? FindFirstLink(Func<Uri, bool>? predicate = null) =>
        MessageText.FindLinks(Mime).FirstOrDefault(link => predicate is null || predicate(link));

    /// <summary>Like <see cref="FindFirstLink"/>, but fails with the body in the message when there is no link.</summary>
    /// <param name="predicate">Picks among the links; <see langword="null"/> for any.</param>
    /// <returns>The link.</returns>
    /// <exception cref="SmtpAssertionException">No link matches.</exception>
    public Uri GetFirstLink(Func<Uri, bool>? predicate = null) =>
        FindFirstLink(predicate) ?? throw new SmtpAssertionException(
            $"No {(predicate is null ? string.Empty : "matching ")}http(s) link in {this}. Body: {MessageText.Excerpt(Text)}");

    /// <summary>
    /// The first number of <paramref name="minDigits"/> to <paramref name="maxDigits"/> digits that stands alone in
    /// the body (not part of a word, a longer number or a URL), else in the subject. For one-time-code tests.
    /// </summary>
    /// <param name="minDigits">The fewest digits, 1 or more; default 6, the usual one-time-code length.</param>
    /// <param name="maxDigits">The most digits; default 6.</param>
    /// <returns>The code as written, or <see langword="null"/> when there is none.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The range is empty or starts below 1.</exception>
    public string? FindCode(int minDigits = 6, int maxDigits = 6)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(minDigits, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDigits, minDigits);
        return MessageText.FindCode(Text, minDigits, maxDigits) ?? MessageText.FindCode(Subject, minDigits, maxDigits);
    }

    /// <summary>Like <see cref="FindCode"/>, but fails with the body in the message when there is no code.</summary>
    /// <param name="minDigits">The fewest digits; default 6.</param>
    /// <param name="maxDigits">The most digits; default 6.</param>
    /// <returns>The code.</returns>
    /// <exception cref="SmtpAssertionException">No code of that length stands alone in the body or subject.</exception>
    public string GetCode(int minDigits = 6, int maxDigits = 6) =>
        FindCode(minDigits, maxDigits) ?? throw new SmtpAssertionException(
            $"No {(minDigits == maxDigits ? $"{minDigits}" : $"{minDigits} to {maxDigits}")}-digit code in {this}. Body: {MessageText.Excerpt(Text)}");

    /// <summary>One line for failure messages: <c>from -&gt; to, to: "subject"</c>.</summary>
    /// <returns>The summary.</returns>
    public override string ToString()
    {
        string subject;
        try
        {
            subject = $"\"{Subject}\"";
        }
        catch (FormatException)
        {
            subject = "(not parseable as MIME)";
        }

        return $"{(From.Length == 0 ? "<>" : From)} -> {string.Join(", ", To)}: {subject}";
    }
}
