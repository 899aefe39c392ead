using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Smtpd;

/// <summary>What every callback knows about the connection it serves.</summary>
public sealed class SmtpSessionContext
{
    private ConcurrentDictionary<string, object?>? _properties;

    internal SmtpSessionContext(string id, IPEndPoint remoteEndPoint, IPEndPoint localEndPoint)
    {
        Id = id;
        RemoteEndPoint = remoteEndPoint;
        LocalEndPoint = localEndPoint;
        ConnectedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>A short identifier, unique within the process, that also tags every log entry of the session.</summary>
    public string Id { get; }

    /// <summary>
    /// The client's address and port. On a <see cref="SmtpListener.ProxyProtocol"/> listener, the client named by the
    /// proxy's header (the socket's peer is then <see cref="ProxyEndPoint"/>). An IPv4 client is always an IPv4
    /// address, never IPv4-mapped IPv6.
    /// </summary>
    public IPEndPoint RemoteEndPoint { get; internal set; }

    /// <summary>
    /// The server address and port the client connected to. On a <see cref="SmtpListener.ProxyProtocol"/> listener,
    /// the destination in the proxy's header: the address the client reached at the proxy.
    /// </summary>
    public IPEndPoint LocalEndPoint { get; internal set; }

    /// <summary>
    /// The proxy the connection came through (the socket's peer) on a <see cref="SmtpListener.ProxyProtocol"/>
    /// listener, or <see langword="null"/> for a direct connection.
    /// </summary>
    public IPEndPoint? ProxyEndPoint { get; internal set; }

    /// <summary>
    /// The PROXY protocol header the proxy sent, with its version 2 TLVs (ALPN, authority, unique id, the client's
    /// TLS details), or <see langword="null"/> for a direct connection.
    /// </summary>
    public SmtpProxyHeader? ProxyHeader { get; internal set; }

    /// <summary>When the connection was accepted.</summary>
    public DateTimeOffset ConnectedAt { get; }

    /// <summary>The name the client gave in its last successful HELO or EHLO, or <see langword="null"/> before one.</summary>
    public string? HeloName { get; internal set; }

    /// <summary>Whether the client used EHLO, or LHLO in LMTP (and so may use service extensions).</summary>
    public bool IsExtended { get; internal set; }

    /// <summary>
    /// Whether the session speaks LMTP (RFC 2033) because it arrived on a listener whose
    /// <see cref="SmtpListener.Protocol"/> is <see cref="SmtpListenerProtocol.Lmtp"/>: the end of data is then answered
    /// once per accepted recipient, and <see cref="SmtpMessage.SetRecipientVerdict(int, SmtpVerdict)"/> decides each reply.
    /// </summary>
    public bool IsLmtp { get; internal init; }

    /// <summary>Whether the connection is encrypted with TLS.</summary>
    public bool IsSecure { get; internal set; }

    /// <summary>The TLS protocol in use, or <see cref="SslProtocols.None"/> without TLS.</summary>
    public SslProtocols TlsProtocol { get; internal set; }

    /// <summary>The negotiated TLS cipher suite, or <see langword="null"/> without TLS.</summary>
    public TlsCipherSuite? TlsCipherSuite { get; internal set; }

    /// <summary>The host name the client asked for with SNI, or <see langword="null"/>.</summary>
    public string? SniHostName { get; internal set; }

    /// <summary>The certificate the client presented, when <see cref="SmtpServerOptions.RequestClientCertificate"/> is set and it sent one.</summary>
    public X509Certificate2? ClientCertificate { get; internal set; }

    /// <summary>The identity the client authenticated as with AUTH, or <see langword="null"/>.</summary>
    public string? AuthenticatedIdentity { get; internal set; }

    /// <summary>The SASL mechanism of the successful AUTH, or <see langword="null"/>.</summary>
    public string? AuthenticationMechanism { get; internal set; }

    /// <summary>Free storage for the application, kept for the life of the session.</summary>
    public ConcurrentDictionary<string, object?> Properties => _properties ??= new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public override string ToString() => ProxyEndPoint is null ? $"{Id} {RemoteEndPoint}" : $"{Id} {RemoteEndPoint} via {ProxyEndPoint}";
}
