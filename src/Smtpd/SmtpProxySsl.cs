using System.Buffers.Binary;
using System.Text;

namespace Smtpd;

/// <summary>The <c>client</c> bit field of the PROXY protocol's <c>PP2_TYPE_SSL</c> TLV.</summary>
[Flags]
public enum SmtpProxySslClient : byte
{
    /// <summary>No flag: the client did not use TLS with the proxy.</summary>
    None = 0,

    /// <summary><c>PP2_CLIENT_SSL</c>: the client connected to the proxy over TLS.</summary>
    Ssl = 0x01,

    /// <summary><c>PP2_CLIENT_CERT_CONN</c>: the client presented a certificate on this connection.</summary>
    CertificateInConnection = 0x02,

    /// <summary><c>PP2_CLIENT_CERT_SESS</c>: the client presented a certificate at least once in this TLS session.</summary>
    CertificateInSession = 0x04,
}

/// <summary>
/// The client's TLS connection to the proxy, from the <c>PP2_TYPE_SSL</c> TLV of a PROXY protocol version 2 header:
/// useful when the proxy terminates TLS and Smtpd sees plaintext.
/// </summary>
public sealed class SmtpProxySsl
{
    private SmtpProxySsl(SmtpProxySslClient client, uint verify, IReadOnlyList<SmtpProxyTlv> subTlvs)
    {
        Client = client;
        Verify = verify;
        SubTlvs = subTlvs;
    }

    /// <summary>Which of TLS and a client certificate the client used.</summary>
    public SmtpProxySslClient Client { get; }

    /// <summary>The proxy's certificate verification result: 0 when the client's certificate was verified, else not.</summary>
    public uint Verify { get; }

    /// <summary>Whether the client presented a certificate and the proxy verified it.</summary>
    public bool IsClientCertificateVerified =>
        Verify == 0 && (Client & (SmtpProxySslClient.CertificateInConnection | SmtpProxySslClient.CertificateInSession)) != 0;

    /// <summary>The TLS version, such as <c>TLSv1.3</c> (<c>PP2_SUBTYPE_SSL_VERSION</c>), or <see langword="null"/>.</summary>
    public string? Version => Text(SmtpProxyTlvType.SslVersion);

    /// <summary>The Common Name of the client certificate's subject (<c>PP2_SUBTYPE_SSL_CN</c>), or <see langword="null"/>.</summary>
    public string? CommonName => Text(SmtpProxyTlvType.SslCommonName);

    /// <summary>The cipher, such as <c>ECDHE-RSA-AES128-GCM-SHA256</c> (<c>PP2_SUBTYPE_SSL_CIPHER</c>), or <see langword="null"/>.</summary>
    public string? Cipher => Text(SmtpProxyTlvType.SslCipher);

    /// <summary>The algorithm that signed the proxy's certificate (<c>PP2_SUBTYPE_SSL_SIG_ALG</c>), or <see langword="null"/>.</summary>
    public string? SignatureAlgorithm => Text(SmtpProxyTlvType.SslSignatureAlgorithm);

    /// <summary>The algorithm of the proxy certificate's key (<c>PP2_SUBTYPE_SSL_KEY_ALG</c>), or <see langword="null"/>.</summary>
    public string? KeyAlgorithm => Text(SmtpProxyTlvType.SslKeyAlgorithm);

    /// <summary>Every sub-TLV in the order received.</summary>
    public IReadOnlyList<SmtpProxyTlv> SubTlvs { get; }

    /// <summary>
    /// Reads the first <c>PP2_TYPE_SSL</c> TLV. The parser has already checked its framing (a 5-octet head, then
    /// sub-TLVs that fit), so this only decodes.
    /// </summary>
    internal static SmtpProxySsl? From(IReadOnlyList<SmtpProxyTlv> tlvs)
    {
        if (!SmtpProxyTlv.TryFind(tlvs, SmtpProxyTlvType.Ssl, out var value))
        {
            return null;
        }

        var span = value.Span;
        var subTlvs = new List<SmtpProxyTlv>();
        for (var offset = 5; offset + 3 <= span.Length;)
        {
            var length = BinaryPrimitives.ReadUInt16BigEndian(span[(offset + 1)..]);
            subTlvs.Add(new SmtpProxyTlv((SmtpProxyTlvType)span[offset], value.Slice(offset + 3, length)));
            offset += 3 + length;
        }

        return new SmtpProxySsl((SmtpProxySslClient)span[0], BinaryPrimitives.ReadUInt32BigEndian(span[1..]), subTlvs);
    }

    private string? Text(SmtpProxyTlvType type) => SmtpProxyTlv.TryFind(SubTlvs, type, out var value) ? Encoding.UTF8.GetString(value.Span) : null;
}
