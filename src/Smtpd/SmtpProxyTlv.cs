namespace Smtpd;

/// <summary>The registered TLV types of the PROXY protocol version 2 (HAProxy's proxy-protocol.txt, 2.2).</summary>
/// <remarks>Other values, such as the application-specific range <c>0xE0</c> to <c>0xEF</c>, are kept as their number.</remarks>
public enum SmtpProxyTlvType : byte
{
    /// <summary><c>PP2_TYPE_ALPN</c>: the ALPN protocol the client negotiated (RFC 7301).</summary>
    Alpn = 0x01,

    /// <summary><c>PP2_TYPE_AUTHORITY</c>: the host name the client asked for, UTF-8 (usually the TLS SNI).</summary>
    Authority = 0x02,

    /// <summary><c>PP2_TYPE_CRC32C</c>: a CRC-32C of the whole header; the server checks it and closes the connection on a mismatch.</summary>
    Crc32C = 0x03,

    /// <summary><c>PP2_TYPE_NOOP</c>: padding, to be ignored.</summary>
    Noop = 0x04,

    /// <summary><c>PP2_TYPE_UNIQUE_ID</c>: an opaque connection identifier of at most 128 octets.</summary>
    UniqueId = 0x05,

    /// <summary><c>PP2_TYPE_SSL</c>: the client's TLS connection to the proxy, with sub-TLVs (see <see cref="SmtpProxySsl"/>).</summary>
    Ssl = 0x20,

    /// <summary><c>PP2_SUBTYPE_SSL_VERSION</c>, inside <see cref="Ssl"/>: the TLS version, US-ASCII.</summary>
    SslVersion = 0x21,

    /// <summary><c>PP2_SUBTYPE_SSL_CN</c>, inside <see cref="Ssl"/>: the client certificate's Common Name, UTF-8.</summary>
    SslCommonName = 0x22,

    /// <summary><c>PP2_SUBTYPE_SSL_CIPHER</c>, inside <see cref="Ssl"/>: the cipher name, US-ASCII.</summary>
    SslCipher = 0x23,

    /// <summary><c>PP2_SUBTYPE_SSL_SIG_ALG</c>, inside <see cref="Ssl"/>: the algorithm that signed the proxy's certificate.</summary>
    SslSignatureAlgorithm = 0x24,

    /// <summary><c>PP2_SUBTYPE_SSL_KEY_ALG</c>, inside <see cref="Ssl"/>: the algorithm of the proxy certificate's key.</summary>
    SslKeyAlgorithm = 0x25,

    /// <summary><c>PP2_TYPE_NETNS</c>: the network namespace's name, US-ASCII.</summary>
    NetworkNamespace = 0x30,
}

/// <summary>One type-length-value entry of a PROXY protocol version 2 header.</summary>
/// <param name="Type">The type; a number outside <see cref="SmtpProxyTlvType"/>'s names for unregistered types.</param>
/// <param name="Value">The value, exactly as sent.</param>
public readonly record struct SmtpProxyTlv(SmtpProxyTlvType Type, ReadOnlyMemory<byte> Value)
{
    internal static bool TryFind(IReadOnlyList<SmtpProxyTlv> tlvs, SmtpProxyTlvType type, out ReadOnlyMemory<byte> value)
    {
        foreach (var tlv in tlvs)
        {
            if (tlv.Type == type)
            {
                value = tlv.Value;
                return true;
            }
        }

        value = default;
        return false;
    }
}
