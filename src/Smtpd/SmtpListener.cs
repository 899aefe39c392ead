using System.Net;

namespace Smtpd;

/// <summary>One listening endpoint of a server, whether it speaks implicit TLS, and its protocol.</summary>
/// <param name="EndPoint">The address and port; port 0 picks a free port.</param>
/// <param name="ImplicitTls">
/// Whether connections start with a TLS handshake before the greeting (RFC 8314 "submissions", port 465 style).
/// Requires <see cref="SmtpServerOptions.ServerCertificate"/> or <see cref="SmtpServerOptions.ServerCertificateSelector"/>.
/// </param>
/// <example>
/// An SMTP listener and an LMTP listener on one server, sharing its options and callbacks:
/// <code>
/// server.Start(
///     new SmtpListener(new IPEndPoint(IPAddress.Any, 2525)),
///     new SmtpListener(new IPEndPoint(IPAddress.Loopback, 2424)) { Protocol = SmtpListenerProtocol.Lmtp });
/// </code>
/// </example>
public sealed record SmtpListener(IPEndPoint EndPoint, bool ImplicitTls = false)
{
    private readonly SmtpListenerProtocol _protocol;

    /// <summary>
    /// The protocol the listener speaks: <see cref="SmtpListenerProtocol.Smtp"/> (the default) or
    /// <see cref="SmtpListenerProtocol.Lmtp"/> (RFC 2033). Every session of the listener keeps it; callbacks see it
    /// as <see cref="SmtpSessionContext.IsLmtp"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a member of <see cref="SmtpListenerProtocol"/>.</exception>
    public SmtpListenerProtocol Protocol
    {
        get => _protocol;
        init => _protocol = Enum.IsDefined(value) ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Protocol must be Smtp or Lmtp.");
    }

    /// <inheritdoc/>
    public override string ToString() => (ImplicitTls, Protocol) switch
    {
        (false, SmtpListenerProtocol.Smtp) => EndPoint.ToString(),
        (true, SmtpListenerProtocol.Smtp) => $"{EndPoint} (implicit TLS)",
        (false, _) => $"{EndPoint} (LMTP)",
        (true, _) => $"{EndPoint} (LMTP, implicit TLS)",
    };
}
