using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Smtpd.Testing;

/// <summary>How <see cref="SmtpTestServer.StartAsync"/> sets up a test server.</summary>
/// <example>
/// <code>
/// await using var smtp = await SmtpTestServer.StartAsync(o =&gt; o
///     .UseStartTls()
///     .RequireAuthentication("app", "secret"));
/// </code>
/// </example>
public sealed class SmtpTestServerOptions
{
    private TimeSpan _waitTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The options of the underlying <see cref="SmtpServer"/>, for limits and validation callbacks
    /// (<see cref="SmtpServerOptions.ValidateRecipient"/>, <see cref="SmtpServerOptions.MaxMessageSize"/>, ...).
    /// </summary>
    /// <remarks>
    /// The test server presets <see cref="SmtpServerOptions.ServerName"/> to <c>smtp.test</c>, allows AUTH over
    /// plaintext (as a local mail catcher does) and lifts the per-client session limit, since every test client
    /// comes from 127.0.0.1. It wraps <see cref="SmtpServerOptions.FilterCommand"/>,
    /// <see cref="SmtpServerOptions.ValidateHost"/> and <see cref="SmtpServerOptions.Deliver"/> to inject faults
    /// and record messages, calling yours after its own; a <see cref="SmtpServerOptions.Deliver"/> of yours can
    /// reject a message, which is then not recorded. <see cref="SmtpServerOptions.DeliverMime"/> and
    /// <see cref="SmtpServerOptions.DeliverLines"/> cannot be used: read <see cref="SmtpReceivedMessage.Mime"/> instead.
    /// </remarks>
    public SmtpServerOptions Server { get; } = new()
    {
        ServerName = "smtp.test",
        AllowInsecureAuth = true,
        MaxSessionsPerClient = 1_000_000,
    };

    /// <summary>The address to listen on. Default <see cref="IPAddress.Loopback"/> (127.0.0.1).</summary>
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>The port. Default 0: a free port, so that any number of servers can run in parallel.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Outside 0 to 65535.</exception>
    public int Port
    {
        get;
        set => field = value is >= IPEndPoint.MinPort and <= IPEndPoint.MaxPort ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "A port is from 0 to 65535.");
    }

    /// <summary>How the server offers TLS. Default <see cref="SmtpTlsMode.None"/>; see <see cref="UseStartTls"/> and <see cref="UseImplicitTls"/>.</summary>
    public SmtpTlsMode Tls { get; set; }

    /// <summary>
    /// The protocol the server speaks. Default <see cref="SmtpListenerProtocol.Smtp"/>; <see cref="UseLmtp"/> makes it
    /// an LMTP server (RFC 2033), for testing an application that delivers over LMTP.
    /// </summary>
    public SmtpListenerProtocol Protocol { get; set; }

    /// <summary>The TLS certificate, with its private key; <see langword="null"/> (the default) uses <see cref="SmtpTestCertificate.Shared"/>.</summary>
    public X509Certificate2? Certificate { get; set; }

    /// <summary>The credentials AUTH must present, set by <see cref="RequireAuthentication"/>; <see langword="null"/> when AUTH is not required.</summary>
    public NetworkCredential? Credentials { get; set; }

    /// <summary>Where the server logs; <see langword="null"/> (the default) for nowhere.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>
    /// The clock that fault delays (<see cref="SmtpFaults.Delay"/>, <see cref="SmtpChaos.Delay"/>) wait on and
    /// <see cref="SmtpInjectedFault.At"/> is read from. Default <see cref="System.TimeProvider.System"/>.
    /// </summary>
    /// <remarks>
    /// With a fake clock (<c>FakeTimeProvider</c> from Microsoft.Extensions.TimeProvider.Testing), a test advances
    /// past a delay instead of sleeping through it, and can check what happens before it ends. The server's own
    /// timeouts and the waits of <see cref="SmtpTestServer.WaitForMessageAsync"/> stay on the system clock: the
    /// server notices a departed client within about a second of real time, which cancels a pending delay.
    /// </remarks>
    /// <exception cref="ArgumentNullException">Set to <see langword="null"/>.</exception>
    public TimeProvider FaultTimeProvider
    {
        get;
        set => field = value ?? throw new ArgumentNullException(nameof(value));
    } = TimeProvider.System;

    /// <summary>How long a wait lasts when it is given no timeout. Default 10 seconds.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative, other than <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    public TimeSpan DefaultWaitTimeout
    {
        get => _waitTimeout;
        set => _waitTimeout = SmtpTestServer.CheckTimeout(value, nameof(value));
    }

    /// <summary>Offers STARTTLS with the test certificate (or <see cref="Certificate"/>).</summary>
    /// <param name="require">Whether clients must use it: before STARTTLS, mail commands get <c>530 5.7.0</c>.</param>
    /// <returns>These options.</returns>
    public SmtpTestServerOptions UseStartTls(bool require = false)
    {
        Tls = SmtpTlsMode.StartTls;
        Server.RequireTls = require;
        return this;
    }

    /// <summary>Speaks TLS from the first byte (port 465 style) with the test certificate (or <see cref="Certificate"/>).</summary>
    /// <returns>These options.</returns>
    public SmtpTestServerOptions UseImplicitTls()
    {
        Tls = SmtpTlsMode.ImplicitTls;
        return this;
    }

    /// <summary>
    /// Speaks LMTP (RFC 2033): LHLO instead of EHLO and HELO, and after the end of data one reply per accepted
    /// recipient. <see cref="SmtpFaultPoint.Ehlo"/> faults apply to LHLO; a <see cref="SmtpServerOptions.Deliver"/> of
    /// yours can refuse single recipients with <see cref="SmtpMessage.SetRecipientVerdict(int, SmtpVerdict)"/>.
    /// </summary>
    /// <returns>These options.</returns>
    public SmtpTestServerOptions UseLmtp()
    {
        Protocol = SmtpListenerProtocol.Lmtp;
        return this;
    }

    /// <summary>
    /// Requires AUTH with exactly these credentials before MAIL (<c>530 5.7.0</c> otherwise); wrong ones get
    /// <c>535 5.7.8</c>. PLAIN, LOGIN and CRAM-MD5 check the password, XOAUTH2 and OAUTHBEARER take it as the token.
    /// </summary>
    /// <param name="userName">The user name.</param>
    /// <param name="password">The password (or bearer token).</param>
    /// <returns>These options.</returns>
    public SmtpTestServerOptions RequireAuthentication(string userName, string password)
    {
        ArgumentException.ThrowIfNullOrEmpty(userName);
        ArgumentNullException.ThrowIfNull(password);
        Credentials = new NetworkCredential(userName, password);
        return this;
    }
}
