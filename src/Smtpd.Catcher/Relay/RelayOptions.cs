using System.Text.RegularExpressions;

namespace Smtpd.Catcher.Relay;

/// <summary>
/// Where and how the catcher forwards ("releases") a caught message to a real SMTP server: the server, TLS, AUTH,
/// which recipients may be released to, and which messages are relayed on their own after they are stored.
/// Nothing is relayed unless <see cref="Server"/> is set.
/// </summary>
public sealed class RelayOptions
{
    /// <summary>How long one relay attempt may take by default: 30 seconds, a tenth of RFC 5321 4.5.3.2's 5-minute
    /// command timeouts, because a human or a test waits on the release answer (MailKit's own default is 2 minutes).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How many stored messages may wait for automatic relay by default: 1000, enough for a burst of a load
    /// test while a slow server catches up, a few kilobytes of ids at most.</summary>
    public const int DefaultQueueCapacity = 1000;

    /// <summary>
    /// The server to relay through: <c>smtp://host[:port]</c> (port 25 by default; STARTTLS when the server offers
    /// it, or always with <see cref="RequireStartTls"/>) or <c>smtps://host[:port]</c> (implicit TLS, RFC 8314;
    /// port 465 by default). User and password in the URL (<c>smtp://user:pass@host</c>, percent-encoded) set
    /// <see cref="UserName"/> and <see cref="Password"/>. <see langword="null"/> (the default) relays nothing.
    /// </summary>
    /// <exception cref="ArgumentException">Not an absolute smtp or smtps URL with a host and nothing after it.</exception>
    public Uri? Server
    {
        get;
        set
        {
            if (value is not null)
            {
                Validate(value);
                if (value.UserInfo.Length > 0)
                {
                    var colon = value.UserInfo.IndexOf(':', StringComparison.Ordinal);
                    UserName = Uri.UnescapeDataString(colon < 0 ? value.UserInfo : value.UserInfo[..colon]);
                    Password = colon < 0 ? null : Uri.UnescapeDataString(value.UserInfo[(colon + 1)..]);
                }
            }

            field = value;
        }
    }

    /// <summary>Whether messages are relayed at all: <see cref="Server"/> is set.</summary>
    public bool Enabled => Server is not null;

    /// <summary>Whether <see cref="Server"/> speaks TLS from the first byte (<c>smtps://</c>).</summary>
    public bool ImplicitTls => string.Equals(Server?.Scheme, "smtps", StringComparison.OrdinalIgnoreCase);

    /// <summary>The user for AUTH, or <see langword="null"/> to send without AUTH. Set by a URL with user info too.</summary>
    public string? UserName { get; set; }

    /// <summary>The password for AUTH.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// With <c>smtp://</c>, refuse to relay when the server does not offer STARTTLS (RFC 3207), instead of sending
    /// in the clear. Default <see langword="false"/>: a local relay target such as another catcher rarely has TLS.
    /// </summary>
    public bool RequireStartTls { get; set; }

    /// <summary>
    /// Accept a certificate the machine does not trust (self-signed, wrong name). Default <see langword="false"/>:
    /// released mail goes to real people, so the server must prove who it is unless the user says otherwise.
    /// </summary>
    public bool AllowUntrustedCertificate { get; set; }

    /// <summary>
    /// The MAIL FROM of relayed messages; <see langword="null"/> (the default) keeps each message's own MAIL FROM.
    /// A real server often accepts only its own users as senders.
    /// </summary>
    /// <exception cref="ArgumentException">Empty, or not a plain <c>local@domain</c> address.</exception>
    public string? Sender
    {
        get;
        set => field = value is null || IsAddress(value)
            ? value
            : throw new ArgumentException($"'{value}' is not an email address (local@domain).", nameof(Sender));
    }

    /// <summary>
    /// When set, every recipient of a release or of an automatic relay must match it (case-insensitive); others
    /// are refused (the release answers 400 naming them). <see langword="null"/> (the default) allows any
    /// recipient: the user asked for the release by name.
    /// </summary>
    public Regex? AllowRecipients { get; set; }

    /// <summary>
    /// When set, every stored message with a recipient matching it is relayed to those recipients on its own,
    /// after its <c>250</c> (never delaying it). Failures are logged and announced as <c>error</c> events; the
    /// message stays stored. <see langword="null"/> (the default) relays only on request.
    /// </summary>
    public Regex? Matching { get; set; }

    /// <summary>How long one relay (connect, TLS, AUTH, the transaction) may take. Default <see cref="DefaultTimeout"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not between one second and one hour.</exception>
    public TimeSpan Timeout
    {
        get;
        set => field = value >= TimeSpan.FromSeconds(1) && value <= TimeSpan.FromHours(1)
            ? value
            : throw new ArgumentOutOfRangeException(nameof(Timeout), value, "Timeout must be between 1 second and 1 hour.");
    } = DefaultTimeout;

    /// <summary>
    /// How many stored messages may wait for automatic relay; past it, a message is not relayed (logged and
    /// counted). Default <see cref="DefaultQueueCapacity"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Not between 1 and 1,000,000.</exception>
    public int QueueCapacity
    {
        get;
        set => field = value is >= 1 and <= 1_000_000
            ? value
            : throw new ArgumentOutOfRangeException(nameof(QueueCapacity), value, "QueueCapacity must be between 1 and 1000000.");
    } = DefaultQueueCapacity;

    /// <summary>The server as messages name it: <c>smtp://host:port</c>, never with the password.</summary>
    public string ServerName => Server is { } server ? $"{server.Scheme}://{server.Host}:{Port}" : string.Empty;

    /// <summary>The port: the URL's, or 465 for <c>smtps://</c> and 25 for <c>smtp://</c>.</summary>
    internal int Port => Server is { IsDefaultPort: false } server ? server.Port : ImplicitTls ? 465 : 25;

    /// <summary>Whether a recipient may be relayed to.</summary>
    /// <param name="address">The address.</param>
    /// <returns>Whether <see cref="AllowRecipients"/> is unset or matches it.</returns>
    public bool IsAllowed(string address) => AllowRecipients is not { } allow || allow.IsMatch(address);

    /// <summary>Whether a text is a plain <c>local@domain</c> address with nothing a command line could be broken with.</summary>
    /// <param name="value">The text.</param>
    /// <returns>Whether it is one.</returns>
    internal static bool IsAddress(string value) =>
        value.Length is > 2 and <= 320
        && value.IndexOf('@', StringComparison.Ordinal) is var at and > 0
        && at < value.Length - 1
        && !value.Any(c => c <= ' ' || c is '<' or '>' or ',' or (char)0x7f)
        && System.Net.Mail.MailAddress.TryCreate(value, out _);

    private static void Validate(Uri value)
    {
        // The URL may carry a password: errors show it without the user info.
        var shown = value.IsAbsoluteUri && value.UserInfo.Length > 0
            ? value.GetComponents(UriComponents.AbsoluteUri & ~UriComponents.UserInfo, UriFormat.UriEscaped)
            : value.ToString();
        if (!value.IsAbsoluteUri
            || !(string.Equals(value.Scheme, "smtp", StringComparison.OrdinalIgnoreCase) || string.Equals(value.Scheme, "smtps", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException($"'{shown}' is not an smtp:// or smtps:// URL.", nameof(value));
        }

        if (value.Host.Length == 0)
        {
            throw new ArgumentException($"'{shown}' has no host.", nameof(value));
        }

        if (value.AbsolutePath is not ("/" or "") || value.Query.Length > 0 || value.Fragment.Length > 0)
        {
            throw new ArgumentException($"'{shown}' has a path, query or fragment; give only smtp://host:port.", nameof(value));
        }
    }
}
