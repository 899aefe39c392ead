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

    /// <summary>
    /// Whether every connection starts with an HAProxy PROXY protocol header (version 1 or 2, told apart
    /// automatically) from a proxy in <see cref="TrustedProxies"/>. Default <see langword="false"/>.
    /// </summary>
    /// <remarks>
    /// After the header, the client it names is <see cref="SmtpSessionContext.RemoteEndPoint"/> for every callback,
    /// for <see cref="SmtpServerOptions.MaxSessionsPerClient"/> and in the logs; the proxy's own address is
    /// <see cref="SmtpSessionContext.ProxyEndPoint"/>. A connection from an address outside
    /// <see cref="TrustedProxies"/>, a malformed header, or no header within
    /// <see cref="SmtpServerOptions.TlsHandshakeTimeout"/> is closed without a reply. The header comes first on the
    /// wire, before the greeting and before the TLS handshake of an implicit-TLS listener. As the specification
    /// requires, such a listener never guesses: a client that connects directly without a header is refused.
    /// </remarks>
    public bool ProxyProtocol { get; init; }

    /// <summary>
    /// The networks whose connections may carry a PROXY protocol header; required (non-empty) with
    /// <see cref="ProxyProtocol"/>. A single proxy is a network of one address (<c>10.0.0.5/32</c>). IPv4 peers of a
    /// dual-mode listener are matched as IPv4.
    /// </summary>
    public IReadOnlyList<IPNetwork> TrustedProxies { get; init; } = [];

    /// <summary>Whether a connection from <paramref name="address"/> may send a PROXY protocol header.</summary>
    internal bool IsTrustedProxy(IPAddress address)
    {
        var unmapped = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var network in TrustedProxies)
        {
            // A network written in IPv4-mapped IPv6 form matches IPv4 peers too.
            if (network.Contains(unmapped) || (unmapped.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && network.Contains(unmapped.MapToIPv6())))
            {
                return true;
            }
        }

        return false;
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        var traits = (Protocol, ImplicitTls) switch
        {
            (SmtpListenerProtocol.Lmtp, true) => " (LMTP, implicit TLS)",
            (SmtpListenerProtocol.Lmtp, false) => " (LMTP)",
            (_, true) => " (implicit TLS)",
            _ => string.Empty,
        };
        var proxy = ProxyProtocol ? $" (PROXY protocol from {string.Join(", ", TrustedProxies)})" : string.Empty;
        return $"{EndPoint}{traits}{proxy}";
    }
}
