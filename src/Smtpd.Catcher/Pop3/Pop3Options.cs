using System.Net;

namespace Smtpd.Catcher.Pop3;

/// <summary>
/// The catcher's POP3 access (RFC 1939): where it listens, who may log in, and its limits. POP3 is off until
/// <see cref="EndPoints"/> has an entry. A POP3 user sees the whole catcher store as one maildrop (the catcher has
/// no mailboxes yet); STLS is offered when the catcher has a certificate (<see cref="SmtpServerOptions.ServerCertificate"/>
/// of <see cref="CatcherOptions.Smtp"/>).
/// </summary>
public sealed class Pop3Options
{
    /// <summary>The default of <see cref="MaxLineLength"/>.</summary>
    public const int DefaultMaxLineLength = 255;

    /// <summary>The default of <see cref="MaxConnections"/>.</summary>
    public const int DefaultMaxConnections = 100;

    /// <summary>The default of <see cref="MaxBadCommands"/>.</summary>
    public const int DefaultMaxBadCommands = 20;

    /// <summary>The default of <see cref="MaxAuthFailures"/>.</summary>
    public const int DefaultMaxAuthFailures = 3;

    /// <summary>The default of <see cref="CommandTimeout"/>.</summary>
    public static readonly TimeSpan DefaultCommandTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The default of <see cref="TlsHandshakeTimeout"/>.</summary>
    public static readonly TimeSpan DefaultTlsHandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Where POP3 listens (port 0 picks a free port); empty serves no POP3.</summary>
    public IList<IPEndPoint> EndPoints { get; } = [];

    /// <summary>
    /// The users and passwords that USER/PASS and AUTH PLAIN accept. When empty, any user and password is accepted,
    /// as the catcher's <c>--auth-any</c> does for SMTP: a local catcher guards nothing that its HTTP API does not
    /// already show.
    /// </summary>
    public IDictionary<string, string> Users { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// The longest command line in octets, CRLF included; a longer one gets <c>-ERR</c> and counts as a bad command.
    /// Default 255: RFC 2449 section 4 caps a command line at 255 octets, and RFC 5034 section 4 keeps that cap for
    /// AUTH's initial response. At least 64 (room for <c>AUTH PLAIN</c> with a short initial response).
    /// </summary>
    public int MaxLineLength
    {
        get;
        set => field = value >= 64 ? value : throw new ArgumentOutOfRangeException(nameof(MaxLineLength), value, "MaxLineLength must be at least 64.");
    } = DefaultMaxLineLength;

    /// <summary>
    /// The most POP3 connections at once; one more is answered <c>-ERR [SYS/TEMP]</c> and closed. Default 100: POP3
    /// clients poll with one connection each, and Dovecot's per-user default (<c>mail_max_userip_connections</c> 10)
    /// times ten developers sharing one catcher.
    /// </summary>
    public int MaxConnections
    {
        get;
        set => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxConnections), value, "MaxConnections must be at least 1.");
    } = DefaultMaxConnections;

    /// <summary>
    /// How many unknown, malformed or out-of-state commands one connection may send before it is closed. Default 20:
    /// Postfix's <c>smtpd_hard_error_limit</c>, the same judgement for the same kind of line-based protocol.
    /// </summary>
    public int MaxBadCommands
    {
        get;
        set => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxBadCommands), value, "MaxBadCommands must be at least 1.");
    } = DefaultMaxBadCommands;

    /// <summary>
    /// How many failed logins (PASS or AUTH) one connection may make before it is closed with <c>-ERR [AUTH]</c>.
    /// Default 3: the common guess budget of login prompts (sshd's and sudo's), enough for a typo and a retry.
    /// </summary>
    public int MaxAuthFailures
    {
        get;
        set => field = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(MaxAuthFailures), value, "MaxAuthFailures must be at least 1.");
    } = DefaultMaxAuthFailures;

    /// <summary>
    /// How long a client may stay silent before the connection is closed without entering the UPDATE state (nothing
    /// is deleted). Default 10 minutes: RFC 1939 section 3 requires an inactivity autologout timer of at least 10
    /// minutes; shorter values are allowed for tests (at least one second).
    /// </summary>
    public TimeSpan CommandTimeout
    {
        get;
        set => field = value >= TimeSpan.FromSeconds(1) ? value : throw new ArgumentOutOfRangeException(nameof(CommandTimeout), value, "CommandTimeout must be at least one second.");
    } = DefaultCommandTimeout;

    /// <summary>
    /// How long the TLS handshake after <c>STLS</c> may take. Default 10 seconds: the SMTP listener's
    /// <see cref="SmtpServerOptions.TlsHandshakeTimeout"/> default (Kestrel's <c>HandshakeTimeout</c>).
    /// </summary>
    public TimeSpan TlsHandshakeTimeout
    {
        get;
        set => field = value >= TimeSpan.FromSeconds(1) ? value : throw new ArgumentOutOfRangeException(nameof(TlsHandshakeTimeout), value, "TlsHandshakeTimeout must be at least one second.");
    } = DefaultTlsHandshakeTimeout;

    /// <summary>Where the POP3 timeouts read the time; a test passes a fake clock.</summary>
    public TimeProvider TimeProvider
    {
        get;
        set => field = value ?? throw new ArgumentNullException(nameof(TimeProvider));
    } = TimeProvider.System;
}
