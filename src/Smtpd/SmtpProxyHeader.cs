using System.Net;
using System.Text;

namespace Smtpd;

/// <summary>
/// What a trusted proxy said about a connection in its HAProxy PROXY protocol header (version 1 text or version 2
/// binary), on a listener with <see cref="SmtpListener.ProxyProtocol"/>. Available to every callback as
/// <see cref="SmtpSessionContext.ProxyHeader"/>.
/// </summary>
/// <remarks>
/// The header's source already is <see cref="SmtpSessionContext.RemoteEndPoint"/> and its destination
/// <see cref="SmtpSessionContext.LocalEndPoint"/>; this object keeps what was sent exactly as sent (an IPv4-mapped
/// IPv6 source stays mapped here, while the session context shows it as IPv4), plus the version 2 TLVs. The values
/// come from the proxy, which the listener trusts; they are not checked beyond the framing the specification
/// defines.
/// </remarks>
public sealed class SmtpProxyHeader
{
    internal SmtpProxyHeader(int version, bool isLocal, IPEndPoint? source, IPEndPoint? destination, IReadOnlyList<SmtpProxyTlv> tlvs)
    {
        Version = version;
        IsLocal = isLocal;
        Source = source;
        Destination = destination;
        Tlvs = tlvs;
        Ssl = SmtpProxySsl.From(tlvs);
    }

    /// <summary>The protocol version: 1 for the text header, 2 for the binary one.</summary>
    public int Version { get; }

    /// <summary>
    /// Whether the connection is the proxy's own (a version 2 <c>LOCAL</c> command, used for health checks). The
    /// session then keeps the socket's addresses, and the rest of the header, TLVs included, is ignored as the
    /// specification requires.
    /// </summary>
    public bool IsLocal { get; }

    /// <summary>
    /// The client's address and port, or <see langword="null"/> when the header carries none: <c>LOCAL</c>,
    /// version 1 <c>UNKNOWN</c>, or a version 2 address family other than TCP over IPv4 or IPv6 (the session then
    /// keeps the socket's addresses, the fallback the specification asks for).
    /// </summary>
    public IPEndPoint? Source { get; }

    /// <summary>The address and port the client connected to at the proxy, or <see langword="null"/> with <see cref="Source"/>.</summary>
    public IPEndPoint? Destination { get; }

    /// <summary>Every version 2 TLV in the order received, <c>PP2_TYPE_NOOP</c> included; empty for version 1.</summary>
    public IReadOnlyList<SmtpProxyTlv> Tlvs { get; }

    /// <summary>The application protocol the client negotiated with the proxy (<c>PP2_TYPE_ALPN</c>, RFC 7301), as text, or <see langword="null"/>.</summary>
    public string? Alpn => Text(SmtpProxyTlvType.Alpn);

    /// <summary>The host name the client asked the proxy for (<c>PP2_TYPE_AUTHORITY</c>, usually the TLS SNI), or <see langword="null"/>.</summary>
    public string? Authority => Text(SmtpProxyTlvType.Authority);

    /// <summary>The proxy's opaque identifier of the connection (<c>PP2_TYPE_UNIQUE_ID</c>, at most 128 octets), or <see langword="null"/>.</summary>
    public ReadOnlyMemory<byte>? UniqueId => TryGetTlv(SmtpProxyTlvType.UniqueId, out var value) ? value : (ReadOnlyMemory<byte>?)null;

    /// <summary>The network namespace the proxy accepted the connection in (<c>PP2_TYPE_NETNS</c>), or <see langword="null"/>.</summary>
    public string? NetworkNamespace => Text(SmtpProxyTlvType.NetworkNamespace);

    /// <summary>What the proxy says about the client's TLS connection to it (<c>PP2_TYPE_SSL</c>), or <see langword="null"/>.</summary>
    public SmtpProxySsl? Ssl { get; }

    /// <summary>Finds the first TLV of a type, including the application-specific ones (<c>0xE0</c> to <c>0xEF</c>).</summary>
    /// <param name="type">The TLV type.</param>
    /// <param name="value">Its value, when found.</param>
    /// <returns>Whether the header has a TLV of that type.</returns>
    public bool TryGetTlv(SmtpProxyTlvType type, out ReadOnlyMemory<byte> value) => SmtpProxyTlv.TryFind(Tlvs, type, out value);

    /// <inheritdoc/>
    public override string ToString() =>
        $"PROXY v{Version} {(IsLocal ? "LOCAL" : Source is null ? "UNKNOWN" : $"{Source} -> {Destination}")}{(Tlvs.Count > 0 ? $" ({Tlvs.Count} TLVs)" : string.Empty)}";

    private string? Text(SmtpProxyTlvType type) => TryGetTlv(type, out var value) ? Encoding.UTF8.GetString(value.Span) : null;
}
