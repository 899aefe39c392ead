using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Smtpd;

/// <summary>
/// Every setting and limit of an <see cref="SmtpServer"/>, and its callbacks: the equivalent of Tcl smtpd's
/// <c>configure</c> and <c>cget</c>.
/// </summary>
/// <remarks>
/// Each limit documents its default and why it was chosen, and every setter validates its value, throwing
/// <see cref="ArgumentOutOfRangeException"/> or <see cref="ArgumentException"/> with the reason. A server reads
/// its options when each session starts: changes made while it runs apply to the sessions that start afterwards.
/// </remarks>
public sealed class SmtpServerOptions
{
    /// <summary>The RFC 5321 4.5.3.1.4 minimum (and default) command line length.</summary>
    public const int MinimumCommandLineLength = 512;

    /// <summary>The longest AUTH command or SASL response line, in octets: RFC 4954 4 requires 12288.</summary>
    public const int MaxAuthLineLength = 12288;

    private const SmtpAuthenticationMechanisms AllMechanisms =
        SmtpAuthenticationMechanisms.Plain | SmtpAuthenticationMechanisms.Login | SmtpAuthenticationMechanisms.CramMd5
        | SmtpAuthenticationMechanisms.XOAuth2 | SmtpAuthenticationMechanisms.OAuthBearer;

    /// <summary>The RFC 5321 4.5.3.1.6 minimum (and default) text line length.</summary>
    public const int MinimumTextLineLength = 1000;

    private string _serverName = DefaultServerName();
    private string _banner = "ESMTP Smtpd ready";
    private int _maxCommandLineLength = MinimumCommandLineLength;
    private int _maxTextLineLength = MinimumTextLineLength;
    private long _maxMessageSize = 35L * 1024 * 1024;
    private int _maxRecipients = 100;
    private int _maxErrors = 20;
    private TimeSpan _commandTimeout = TimeSpan.FromMinutes(5);
    private TimeSpan _dataTimeout = TimeSpan.FromMinutes(5);
    private int _maxSessions = 1000;
    private int _maxSessionsPerClient = 50;
    private IPNetwork[] _maxSessionsPerClientExemptions = [];
    private int _messageMemoryThreshold = 64 * 1024;
    private string? _spoolDirectory;
    private int _version;
    private SmtpReply? _greeting;
    private byte[][]? _ehloExtensions;

    /// <summary>
    /// The host name the server announces in its greeting and EHLO reply. Default: the machine's host name.
    /// </summary>
    /// <exception cref="ArgumentException">Empty, or contains spaces or control characters.</exception>
    public string ServerName
    {
        get => _serverName;
        set
        {
            ArgumentException.ThrowIfNullOrEmpty(value);
            if (value.Any(c => c <= ' ' || c == 0x7f))
            {
                throw new ArgumentException("The server name is one token: no spaces or control characters.", nameof(value));
            }

            _serverName = Changed(value);
        }
    }

    /// <summary>
    /// The text after the server name in the 220 greeting. Default: <c>ESMTP Smtpd ready</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Contains CR, LF or other control characters.</exception>
    public string Banner
    {
        get => _banner;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (value.Any(char.IsControl))
            {
                throw new ArgumentException("The banner must not contain control characters: a CR or LF would forge extra reply lines.", nameof(value));
            }

            _banner = Changed(value);
        }
    }

    /// <summary>
    /// The longest command line accepted, in octets including CRLF. Default 512, the RFC 5321 4.5.3.1.4 limit;
    /// a longer line gets <c>500 5.5.2 Line too long</c> and is discarded without being buffered.
    /// Valid: 512 (the RFC minimum a server must accept) to 65536.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 512 to 65536.</exception>
    public int MaxCommandLineLength
    {
        get => _maxCommandLineLength;
        set => _maxCommandLineLength = Changed(InRange(value, MinimumCommandLineLength, 65536));
    }

    /// <summary>
    /// The longest line of message text accepted in DATA, in octets including CRLF. Default 1000, the RFC 5321
    /// 4.5.3.1.6 limit; a message with a longer line gets <c>500 5.5.2</c> after the end of data, as aiosmtpd does.
    /// BDAT content is binary and has no line limit. Valid: 1000 to <see cref="int.MaxValue"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Below 1000.</exception>
    public int MaxTextLineLength
    {
        get => _maxTextLineLength;
        set => _maxTextLineLength = Changed(InRange(value, MinimumTextLineLength, int.MaxValue));
    }

    /// <summary>
    /// The largest message accepted, in octets after dot-unstuffing. Advertised as SIZE (RFC 1870), checked
    /// against the declared SIZE at MAIL, and counted during DATA and BDAT, where the excess is discarded and
    /// <c>552 5.3.4</c> sent after the end of data. Default 35 MiB: large enough for what Exchange Online and
    /// Gmail accept, while bounding disk use per transaction (Postfix defaults to 10 MB, aiosmtpd to 32 MiB).
    /// Valid: 1 to <see cref="long.MaxValue"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative.</exception>
    public long MaxMessageSize
    {
        get => _maxMessageSize;
        set => _maxMessageSize = Changed(InRange(value, 1, long.MaxValue));
    }

    /// <summary>
    /// The most recipients per transaction; the next RCPT gets <c>452 4.5.3</c>. Default 100, the number
    /// RFC 5321 4.5.3.1.8 requires servers to accept. Valid: 1 to 100000.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 1 to 100000.</exception>
    public int MaxRecipients
    {
        get => _maxRecipients;
        set => _maxRecipients = Changed(InRange(value, 1, 100_000));
    }

    /// <summary>
    /// Whether <c>RCPT TO:&lt;Postmaster&gt;</c> (any letter case, with no domain) and <c>RCPT TO:&lt;postmaster@domain&gt;</c>
    /// (any domain) are accepted without asking <see cref="ValidateRecipient"/>. Default <see langword="true"/>:
    /// RFC 5321 4.5.1 requires every SMTP server that delivers mail to accept mail for postmaster, so that a client
    /// can always report a problem, even when the recipient policy would refuse it. Other limits, such as
    /// <see cref="MaxRecipients"/>, still apply. Turn it off only for a host whose recipient callback handles
    /// postmaster itself.
    /// </summary>
    public bool AlwaysAcceptPostmaster { get; set => field = Changed(value); } = true;

    /// <summary>
    /// How many bad commands (unknown, malformed, out of sequence or over-long) a session may send before
    /// the server answers <c>421 4.7.0</c> and closes. Default 20, Postfix's <c>smtpd_hard_error_limit</c>.
    /// Valid: 1 to 10000.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 1 to 10000.</exception>
    public int MaxErrors
    {
        get => _maxErrors;
        set => _maxErrors = Changed(InRange(value, 1, 10_000));
    }

    /// <summary>
    /// How many NOOP, RSET, VRFY, EXPN and HELP commands a session may send before it must deliver a message;
    /// the next one gets <c>421 4.7.0</c> and a close. The count restarts after each accepted message. Default 100,
    /// Postfix's <c>smtpd_junk_command_limit</c>: it stops a client from holding a session open forever with
    /// harmless commands. Valid: 1 to <see cref="int.MaxValue"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative.</exception>
    public int MaxJunkCommands
    {
        get;
        set => field = Changed(InRange(value, 1, int.MaxValue));
    } = 100;

    /// <summary>
    /// The slowest rate, in octets per second, at which a client may send message content (DATA or BDAT) once
    /// <see cref="MinimumDataRateGracePeriod"/> has passed; a slower client gets <c>421 4.4.2</c> and is cut off.
    /// Together with the per-command deadline this ends slowloris clients that trickle one octet just before each
    /// timeout. Default 240, Kestrel's <c>MinRequestBodyDataRate</c>. 0 turns the check off. Valid: 0 to 1e9.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative, over 1e9, or not a number.</exception>
    public double MinimumDataRate
    {
        get;
        set => field = Changed(value is >= 0 and <= 1e9 ? value : throw new ArgumentOutOfRangeException(nameof(MinimumDataRate), value, "MinimumDataRate must be from 0 to 1e9 octets per second."));
    } = 240;

    /// <summary>
    /// How long content may arrive at any rate before <see cref="MinimumDataRate"/> applies. Default 5 seconds,
    /// Kestrel's grace period. Valid: more than zero, at most one day.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero, negative or over one day.</exception>
    public TimeSpan MinimumDataRateGracePeriod
    {
        get;
        set => field = Changed(InRange(value));
    } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the server waits for a whole command line (and for the client to read a reply) before it sends
    /// <c>421 4.4.2</c> and closes. The deadline covers the whole line, not each read, so a client that trickles
    /// one octet at a time cannot stretch it. Default 5 minutes, the RFC 5321 4.5.3.2.7 server timeout.
    /// Valid: more than zero, at most one day.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero, negative or over one day.</exception>
    public TimeSpan CommandTimeout
    {
        get => _commandTimeout;
        set => _commandTimeout = Changed(InRange(value));
    }

    /// <summary>
    /// How long the server waits for the next block of message content in DATA or BDAT. Default 5 minutes,
    /// between the RFC 5321 4.5.3.2.5 data-block (3 minutes) and 4.5.3.2.6 termination (10 minutes) timeouts.
    /// Valid: more than zero, at most one day.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero, negative or over one day.</exception>
    public TimeSpan DataTimeout
    {
        get => _dataTimeout;
        set => _dataTimeout = Changed(InRange(value));
    }

    /// <summary>
    /// The most sessions open at once; further connections get <c>421 4.7.0</c> and are closed. Default 1000:
    /// sessions are asynchronous and cost a few KiB when idle, where Postfix's process-per-session design
    /// stops at 100. Valid: 1 to 1000000.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 1 to 1000000.</exception>
    public int MaxSessions
    {
        get => _maxSessions;
        set => _maxSessions = Changed(InRange(value, 1, 1_000_000));
    }

    /// <summary>
    /// The most sessions open at once from one client IP address; further connections get <c>421 4.7.0</c>.
    /// Default 50, Postfix's <c>smtpd_client_connection_count_limit</c>. Valid: 1 to 1000000.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 1 to 1000000.</exception>
    public int MaxSessionsPerClient
    {
        get => _maxSessionsPerClient;
        set => _maxSessionsPerClient = Changed(InRange(value, 1, 1_000_000));
    }

    /// <summary>
    /// Client networks that <see cref="MaxSessionsPerClient"/> does not apply to; <see cref="MaxSessions"/> still
    /// does. Default: none, so every address is capped, as Postfix's <c>smtpd_client_connection_count_limit</c> caps
    /// every client outside <c>smtpd_client_event_limit_exceptions</c> (which a server on the internet leaves empty).
    /// A local mail catcher exempts loopback (<c>127.0.0.0/8</c> and <c>::1</c>): there every connection of a load
    /// test comes from one address, and the per-address cap would refuse most of them. Setting stores a copy; the
    /// check at admission walks the list without allocating. IPv4-mapped IPv6 clients are matched as IPv4.
    /// </summary>
    /// <exception cref="ArgumentNullException">The list is <see langword="null"/>.</exception>
    public IReadOnlyList<IPNetwork> MaxSessionsPerClientExemptions
    {
        get => _maxSessionsPerClientExemptions;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            _maxSessionsPerClientExemptions = Changed(value.ToArray());
        }
    }

    /// <summary>
    /// How much of a message a session keeps in memory before it spills the content to a temporary file; a
    /// session never holds more content in memory than this. Default 64 KiB: most mail fits, and 1000 sessions
    /// receiving at once stay under 64 MiB. Valid: 4 KiB to 64 MiB.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 4 KiB to 64 MiB.</exception>
    public int MessageMemoryThreshold
    {
        get => _messageMemoryThreshold;
        set => _messageMemoryThreshold = Changed(InRange(value, 4 * 1024, 64 * 1024 * 1024));
    }

    /// <summary>
    /// Where spilled message content is written; <see langword="null"/> (the default) means the system
    /// temporary directory. The files are deleted when the delivery callback completes.
    /// </summary>
    /// <exception cref="ArgumentException">The path is empty or whitespace.</exception>
    public string? SpoolDirectory
    {
        get => _spoolDirectory;
        set
        {
            if (value is not null && string.IsNullOrWhiteSpace(value))
            {
                throw new ArgumentException("The spool directory must be a path, or null for the temporary directory.", nameof(value));
            }

            _spoolDirectory = Changed(value);
        }
    }

    /// <summary>What to do with bare CR or LF in DATA content. Default <see cref="BareLineEndingPolicy.Reject"/>, the safe choice.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Not a defined policy.</exception>
    public BareLineEndingPolicy BareLineEndings
    {
        get;
        set => field = Changed(Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Unknown policy."));
    } = BareLineEndingPolicy.Reject;

    /// <summary>
    /// Whether the server offers the DSN extension (RFC 3461): EHLO advertises <c>DSN</c>, MAIL accepts <c>RET</c> and
    /// <c>ENVID</c>, RCPT accepts <c>NOTIFY</c> and <c>ORCPT</c>, and the parsed values reach the callbacks through
    /// <see cref="SmtpEnvelope.DsnReturn"/>, <see cref="SmtpEnvelope.DsnEnvelopeId"/> and
    /// <see cref="SmtpMailbox.Dsn"/>. When off, those parameters get <c>555 5.5.4</c> like any unknown parameter.
    /// Default <see langword="false"/>: advertising DSN promises the client that the notifications it asks for will
    /// be sent (RFC 3461 5), and Smtpd only hands the parameters to the application, which may never send one.
    /// Postfix advertises DSN by default because it is the MTA that sends them; a host that does (or that relays
    /// the parameters to an MTA that does) turns this on. Long <c>ORCPT</c> values may also need a larger
    /// <see cref="MaxCommandLineLength"/> (RFC 3461 allows a 500-character original address).
    /// </summary>
    public bool EnableDsn { get; set => field = Changed(value); }

    /// <summary>
    /// The TLS certificate, with its private key. When set (or <see cref="ServerCertificateSelector"/> is), EHLO
    /// advertises STARTTLS (RFC 3207) and implicit-TLS listeners can be used. Default: none.
    /// </summary>
    public X509Certificate2? ServerCertificate { get; set => field = Changed(value); }

    /// <summary>Chooses a certificate per connection from the SNI host name; falls back to <see cref="ServerCertificate"/>. Optional.</summary>
    public ServerCertificateSelector? ServerCertificateSelector { get; set => field = Changed(value); }

    /// <summary>
    /// Whether the TLS handshake asks the client for a certificate. Any certificate is accepted and exposed as
    /// <see cref="SmtpSessionContext.ClientCertificate"/> for the callbacks to judge. Default <see langword="false"/>.
    /// </summary>
    public bool RequestClientCertificate { get; set => field = Changed(value); }

    /// <summary>
    /// Whether the client must use TLS: before it does, only EHLO, HELO, STARTTLS, NOOP, RSET and QUIT are
    /// accepted and everything else gets <c>530 5.7.0 Must issue a STARTTLS command first</c> (RFC 3207 4).
    /// Default <see langword="false"/>.
    /// </summary>
    public bool RequireTls { get; set => field = Changed(value); }

    /// <summary>
    /// How long a TLS handshake may take before the connection is dropped. Default 10 seconds, Kestrel's
    /// <c>HandshakeTimeout</c>: long enough for any real client, short enough to shed stalled handshakes.
    /// It also bounds the wait for the whole PROXY protocol header on a <see cref="SmtpListener.ProxyProtocol"/>
    /// listener, connection set-up of the same kind. Valid: more than zero, at most one day.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero, negative or over one day.</exception>
    public TimeSpan TlsHandshakeTimeout
    {
        get;
        set => field = Changed(InRange(value));
    } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Checks AUTH credentials. When set, EHLO advertises AUTH with <see cref="AuthenticationMechanisms"/>, over TLS
    /// or when <see cref="AllowInsecureAuth"/> is set. Optional; without it AUTH is not offered.
    /// </summary>
    public Authenticator? Authenticate { get; set => field = Changed(value); }

    /// <summary>The SASL mechanisms offered. Default: PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER; CRAM-MD5 is opt-in.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No mechanism, or an unknown flag.</exception>
    public SmtpAuthenticationMechanisms AuthenticationMechanisms
    {
        get;
        set => field = Changed(value != SmtpAuthenticationMechanisms.None && (value & ~AllMechanisms) == 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "Name at least one known mechanism."));
    } = SmtpAuthenticationMechanisms.Default;

    /// <summary>
    /// Whether AUTH is offered and accepted without TLS. Default <see langword="false"/>: over plaintext AUTH is
    /// not advertised and gets <c>538 5.7.11 Encryption required</c> (RFC 4954 4). A local mail catcher sets it.
    /// </summary>
    public bool AllowInsecureAuth { get; set => field = Changed(value); }

    /// <summary>Whether MAIL needs a successful AUTH first (<c>530 5.7.0 Authentication required</c>). Default <see langword="false"/>.</summary>
    public bool RequireAuth { get; set => field = Changed(value); }

    /// <summary>
    /// How many failed AUTH attempts a session may make before the server sends <c>421 4.7.0</c> and closes.
    /// Default 3, the usual lockout threshold of mail servers (Exim's and Dovecot's examples use 3).
    /// Valid: 1 to 100.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 1 to 100.</exception>
    public int MaxAuthFailures
    {
        get;
        set => field = Changed(InRange(value, 1, 100));
    } = 3;

    /// <summary>Called before each well-formed command runs; may refuse it or drop the connection. Optional; costs nothing when unset.</summary>
    public CommandFilter? FilterCommand { get; set => field = Changed(value); }

    /// <summary>Called when a connection is accepted, before the greeting (Tcl <c>-validate_host</c>). Optional.</summary>
    public HostValidator? ValidateHost { get; set => field = Changed(value); }

    /// <summary>Called at MAIL (Tcl <c>-validate_sender</c>). A rejection gets <c>550 5.7.1 Sender rejected</c> unless the verdict carries its own reply. Optional.</summary>
    public SenderValidator? ValidateSender { get; set => field = Changed(value); }

    /// <summary>Called at RCPT (Tcl <c>-validate_recipient</c>). A rejection gets <c>550 5.7.1 Recipient rejected</c> unless the verdict carries its own reply. Optional.</summary>
    public RecipientValidator? ValidateRecipient { get; set => field = Changed(value); }

    /// <summary>
    /// Receives each message parsed with MimeKit (Tcl <c>-deliverMIME</c>). When set, <see cref="Deliver"/> and
    /// <see cref="DeliverLines"/> are not called, as in Tcl smtpd where <c>-deliver</c> has no effect once
    /// <c>-deliverMIME</c> is set.
    /// </summary>
    public MimeMessageDeliverer? DeliverMime { get; set => field = Changed(value); }

    /// <summary>Receives each message as its exact raw bytes. Takes precedence over <see cref="DeliverLines"/>.</summary>
    public MessageDeliverer? Deliver { get; set => field = Changed(value); }

    /// <summary>Receives each message as the sender, the recipients and a list of text lines (Tcl <c>-deliver</c>).</summary>
    public LinesDeliverer? DeliverLines { get; set => field = Changed(value); }

    /// <summary>Counts changes, so a server can reuse one snapshot for every session until an option changes.</summary>
    internal int Version => Volatile.Read(ref _version);

    /// <summary>Whether <paramref name="client"/> is in <see cref="MaxSessionsPerClientExemptions"/>; allocates nothing.</summary>
    internal bool IsExemptFromMaxSessionsPerClient(IPAddress client)
    {
        foreach (var network in _maxSessionsPerClientExemptions)
        {
            if (network.Contains(client))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether a certificate is configured, so TLS can be offered.</summary>
    internal bool TlsAvailable => ServerCertificate is not null || ServerCertificateSelector is not null;

    /// <summary>The 220 greeting, built once per snapshot of the options rather than once per session.</summary>
    internal SmtpReply Greeting => _greeting ??= new SmtpReply(220, null, $"{ServerName} {Banner}".TrimEnd());

    /// <summary>
    /// The EHLO reply lines after the first (which names the client), encoded once per snapshot for each of the four
    /// combinations of "STARTTLS offered" and "AUTH offered".
    /// </summary>
    internal byte[] EhloExtensions(bool offerStartTls, string? authKeyword)
    {
        var index = (offerStartTls ? 1 : 0) + (authKeyword is null ? 0 : 2);
        _ehloExtensions ??= new byte[4][];
        return _ehloExtensions[index] ??= Smtpd.Protocol.EhloReply.EncodeExtensions(this, offerStartTls, authKeyword);
    }

    /// <summary>Returns an independent copy of these options (Tcl <c>cget</c> with no option).</summary>
    /// <returns>The copy.</returns>
    public SmtpServerOptions Clone()
    {
        var copy = (SmtpServerOptions)MemberwiseClone();
        copy._greeting = null;
        copy._ehloExtensions = null;
        return copy;
    }

    /// <summary>Lists every option and its value, one <c>name=value</c> per line.</summary>
    /// <returns>The listing.</returns>
    public override string ToString()
    {
        var builder = new StringBuilder();
        foreach (var property in typeof(SmtpServerOptions).GetProperties())
        {
            var value = property.GetValue(this);
            builder.Append(property.Name).Append('=').Append(value switch
            {
                Delegate => "(callback)",
                IReadOnlyList<IPNetwork> networks => string.Join(",", networks),
                _ => value?.ToString() ?? "(none)",
            }).Append('\n');
        }

        return builder.ToString();
    }

    private static string DefaultServerName()
    {
        try
        {
            var name = System.Net.Dns.GetHostName();
            return string.IsNullOrWhiteSpace(name) || name.Any(c => c <= ' ') ? "localhost" : name;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return "localhost";
        }
    }

    private T Changed<T>(T value)
    {
        Interlocked.Increment(ref _version);
        return value;
    }

    private static T InRange<T>(T value, T min, T max, [CallerMemberName] string option = "")
        where T : IComparable<T>
    {
        if (value.CompareTo(min) < 0 || value.CompareTo(max) > 0)
        {
            throw new ArgumentOutOfRangeException(option, value, $"{option} must be from {min} to {max}.");
        }

        return value;
    }

    private static TimeSpan InRange(TimeSpan value, [CallerMemberName] string option = "")
    {
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
        {
            throw new ArgumentOutOfRangeException(option, value, $"{option} must be more than zero and at most one day.");
        }

        return value;
    }
}
