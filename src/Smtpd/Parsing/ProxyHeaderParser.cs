using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Numerics;

namespace Smtpd.Parsing;

/// <summary>The outcome of <see cref="ProxyHeaderParser.TryParse"/>.</summary>
internal enum ProxyHeaderStatus
{
    /// <summary>A whole, valid header was read and consumed.</summary>
    Complete,

    /// <summary>What has arrived is a valid beginning of a header: read more.</summary>
    NeedMoreData,

    /// <summary>The input is not a valid header; <see cref="ProxyHeaderError"/> says why. The connection must be closed.</summary>
    Invalid,
}

/// <summary>Why a PROXY protocol header was refused: every rejection has a name, for the log.</summary>
internal enum ProxyHeaderError
{
    None,

    /// <summary>The input starts with neither the version 1 <c>PROXY </c> nor the version 2 signature.</summary>
    NotProxyProtocol,

    /// <summary>Version 1: no CRLF within <see cref="ProxyHeaderParser.MaxV1Length"/> octets.</summary>
    V1TooLong,

    /// <summary>Version 1: the line ends in a bare LF, or its fields are not separated by single spaces.</summary>
    V1Malformed,

    /// <summary>Version 1: the protocol is not <c>TCP4</c>, <c>TCP6</c> or <c>UNKNOWN</c>.</summary>
    V1UnknownProtocol,

    /// <summary>Version 1: an address is not in the canonical form of its family.</summary>
    V1BadAddress,

    /// <summary>Version 1: a port is not a decimal number from 0 to 65535 without leading zeroes.</summary>
    V1BadPort,

    /// <summary>Version 2: the version nibble is not 2.</summary>
    V2BadVersion,

    /// <summary>Version 2: the command is neither <c>LOCAL</c> nor <c>PROXY</c>.</summary>
    V2BadCommand,

    /// <summary>Version 2: the family and transport byte is none of the seven the specification defines.</summary>
    V2BadFamily,

    /// <summary>Version 2: the header would be longer than <see cref="ProxyHeaderParser.MaxV2Length"/>.</summary>
    V2TooLong,

    /// <summary>Version 2: the length leaves no room for the family's addresses.</summary>
    V2AddressTruncated,

    /// <summary>Version 2: a TLV's length runs past the end of the header.</summary>
    V2TlvOverrun,

    /// <summary>Version 2: a <c>PP2_TYPE_SSL</c> TLV is shorter than its 5-octet head, or a sub-TLV runs past its end.</summary>
    V2SslTlvMalformed,

    /// <summary>Version 2: a <c>PP2_TYPE_UNIQUE_ID</c> is longer than 128 octets.</summary>
    V2UniqueIdTooLong,

    /// <summary>Version 2: a <c>PP2_TYPE_CRC32C</c> TLV is not 4 octets, or does not match the header.</summary>
    V2ChecksumMismatch,
}

/// <summary>
/// Reads the HAProxy PROXY protocol header (versions 1 and 2, HAProxy's <c>doc/proxy-protocol.txt</c>) that a proxy
/// sends before anything else on a connection. Pure: it looks at bytes and does no I/O, so it is tested by feeding
/// its input whole, line by line and one byte at a time.
/// </summary>
/// <remarks>
/// The version is told from the first octet (CR for version 2, <c>P</c> for version 1), and input that stops
/// matching either signature is refused at once rather than after a full header's worth. Every read is bounded:
/// version 1 never looks past <see cref="MaxV1Length"/> octets, version 2 refuses a declared length above
/// <see cref="MaxV2Length"/> before waiting for it.
/// </remarks>
internal static class ProxyHeaderParser
{
    /// <summary>
    /// The longest version 1 line, CRLF included: 107 octets, the specification's worst case
    /// (<c>PROXY UNKNOWN</c> with two full IPv6 addresses and two 5-digit ports), section 2.1.
    /// </summary>
    public const int MaxV1Length = 107;

    /// <summary>
    /// The longest version 2 header accepted, its 16-octet head included: 4 KiB. The 16-bit length field allows
    /// 65551 octets, but the largest header a real proxy sends (UNIX addresses, 216 octets, plus ALPN, AUTHORITY,
    /// CRC32C, UNIQUE_ID, SSL with its sub-TLVs and NETNS, each bounded by a name or certificate field) stays under
    /// about 1.5 KiB; 4 KiB leaves room for cloud providers' custom TLVs while keeping a hostile length from making
    /// a session buffer 64 KiB before it has said anything.
    /// </summary>
    public const int MaxV2Length = 4096;

    /// <summary>The fixed head of version 2: the signature, version and command, family and transport, and length.</summary>
    private const int V2HeadLength = 16;

    private const int V2LocalCommand = 0x0;
    private const int V2ProxyCommand = 0x1;

    /// <summary>The specification's limit for <c>PP2_TYPE_UNIQUE_ID</c> (section 2.2.5).</summary>
    private const int MaxUniqueIdLength = 128;

    /// <summary>The <c>pp2_tlv_ssl</c> head: the <c>client</c> octet and the 32-bit <c>verify</c> field.</summary>
    private const int SslHeadLength = 5;

    private const int TlvHeadLength = 3;

    private static readonly SearchValues<byte> IPv6Characters = SearchValues.Create("0123456789abcdefABCDEF:."u8);

    /// <summary>Version 2's 12-octet signature, chosen to be invalid in HTTP, SMTP and other text protocols.</summary>
    private static ReadOnlySpan<byte> V2Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private static ReadOnlySpan<byte> V1Signature => "PROXY "u8;

    /// <summary>Reads one header from the start of the input.</summary>
    /// <param name="reader">The input; advanced past the header when it is complete, untouched otherwise.</param>
    /// <param name="header">The header, when the status is <see cref="ProxyHeaderStatus.Complete"/>.</param>
    /// <param name="error">Why the header was refused, when the status is <see cref="ProxyHeaderStatus.Invalid"/>.</param>
    /// <returns>Whether a header was read, more input is needed, or the input is not a valid header.</returns>
    public static ProxyHeaderStatus TryParse(ref SequenceReader<byte> reader, out SmtpProxyHeader? header, out ProxyHeaderError error)
    {
        header = null;
        error = ProxyHeaderError.None;
        var input = reader.UnreadSequence;
        if (input.IsEmpty)
        {
            return ProxyHeaderStatus.NeedMoreData;
        }

        Span<byte> head = stackalloc byte[V2HeadLength];
        head = head[..(int)Math.Min(input.Length, V2HeadLength)];
        input.Slice(0, head.Length).CopyTo(head);

        var status = head[0] == V2Signature[0]
            ? TryParseV2(input, head, out header, out var length, out error)
            : TryParseV1(input, head, out header, out length, out error);
        if (status == ProxyHeaderStatus.Complete)
        {
            reader.Advance(length);
        }

        return status;
    }

    /// <summary>
    /// CRC-32C (Castagnoli, RFC 4960 appendix B), the checksum of <c>PP2_TYPE_CRC32C</c>, over <paramref name="data"/>
    /// with the four octets at <paramref name="zeroedAt"/> read as zeroes (the checksum field itself).
    /// </summary>
    internal static uint Crc32C(ReadOnlySpan<byte> data, int zeroedAt = -1)
    {
        var crc = uint.MaxValue;
        for (var i = 0; i < data.Length; i++)
        {
            crc = BitOperations.Crc32C(crc, i >= zeroedAt && i < zeroedAt + 4 && zeroedAt >= 0 ? (byte)0 : data[i]);
        }

        return ~crc;
    }

    /// <summary>Version 1 (section 2.1): <c>"PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP sport SP dport CRLF</c>, or <c>"PROXY UNKNOWN" [ SP anything ] CRLF</c>.</summary>
    private static ProxyHeaderStatus TryParseV1(in ReadOnlySequence<byte> input, ReadOnlySpan<byte> head, out SmtpProxyHeader? header, out int length, out ProxyHeaderError error)
    {
        header = null;
        length = 0;
        var signature = Math.Min(head.Length, V1Signature.Length);
        if (!head[..signature].SequenceEqual(V1Signature[..signature]))
        {
            return Fail(ProxyHeaderError.NotProxyProtocol, out error);
        }

        // Slice to the limit before searching: a sender that never ends its line is refused after 107 octets.
        var window = input.Length > MaxV1Length ? input.Slice(0, MaxV1Length) : input;
        if (window.PositionOf((byte)'\n') is not { } lineFeed)
        {
            error = ProxyHeaderError.None;
            return window.Length >= MaxV1Length ? Fail(ProxyHeaderError.V1TooLong, out error) : ProxyHeaderStatus.NeedMoreData;
        }

        var lineSequence = window.Slice(0, lineFeed);
        Span<byte> line = stackalloc byte[MaxV1Length];
        line = line[..(int)lineSequence.Length];
        lineSequence.CopyTo(line);
        length = line.Length + 1;

        // "The receiver must not tolerate a single CR or LF character to end the line."
        if (line.Length <= V1Signature.Length || line[^1] != (byte)'\r')
        {
            return Fail(ProxyHeaderError.V1Malformed, out error);
        }

        return TryParseV1Fields(line[V1Signature.Length..^1], out header, out error);
    }

    private static ProxyHeaderStatus TryParseV1Fields(ReadOnlySpan<byte> fields, out SmtpProxyHeader? header, out ProxyHeaderError error)
    {
        header = null;

        // UNKNOWN: "the receiver must ignore anything presented before the CRLF", and keeps the real endpoints.
        if (fields.SequenceEqual("UNKNOWN"u8) || fields.StartsWith("UNKNOWN "u8))
        {
            header = new SmtpProxyHeader(1, isLocal: false, source: null, destination: null, tlvs: []);
            error = ProxyHeaderError.None;
            return ProxyHeaderStatus.Complete;
        }

        bool ipv6;
        if (fields.StartsWith("TCP4 "u8))
        {
            ipv6 = false;
        }
        else if (fields.StartsWith("TCP6 "u8))
        {
            ipv6 = true;
        }
        else
        {
            return Fail(ProxyHeaderError.V1UnknownProtocol, out error);
        }

        var rest = fields[5..];
        if (!NextField(ref rest, out var sourceText) || !NextField(ref rest, out var destinationText) || !NextField(ref rest, out var sourcePortText)
            || rest.IsEmpty || rest.Contains((byte)' '))
        {
            return Fail(ProxyHeaderError.V1Malformed, out error);
        }

        if (!TryParseAddress(sourceText, ipv6, out var source) || !TryParseAddress(destinationText, ipv6, out var destination))
        {
            return Fail(ProxyHeaderError.V1BadAddress, out error);
        }

        if (!TryParseDecimal(sourcePortText, IPEndPoint.MaxPort, out var sourcePort) || !TryParseDecimal(rest, IPEndPoint.MaxPort, out var destinationPort))
        {
            return Fail(ProxyHeaderError.V1BadPort, out error);
        }

        header = new SmtpProxyHeader(1, isLocal: false, new IPEndPoint(source, sourcePort), new IPEndPoint(destination, destinationPort), tlvs: []);
        error = ProxyHeaderError.None;
        return ProxyHeaderStatus.Complete;
    }

    /// <summary>Takes the next field and the single space after it; an empty field (two spaces) is refused.</summary>
    private static bool NextField(ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> field)
    {
        var space = rest.IndexOf((byte)' ');
        if (space <= 0)
        {
            field = default;
            return false;
        }

        field = rest[..space];
        rest = rest[(space + 1)..];
        return true;
    }

    private static bool TryParseAddress(ReadOnlySpan<byte> text, bool ipv6, out IPAddress address) =>
        ipv6 ? TryParseIPv6(text, out address) : TryParseIPv4(text, out address);

    /// <summary>
    /// Exactly four decimal numbers from 0 to 255 separated by single dots, without leading zeroes (section 2.1).
    /// <see cref="IPAddress.TryParse(string, out IPAddress)"/> is not used: it also takes <c>10.1</c>, <c>0x7f.1</c>
    /// and octal forms, which is the confusion the specification rules out.
    /// </summary>
    private static bool TryParseIPv4(ReadOnlySpan<byte> text, out IPAddress address)
    {
        address = IPAddress.None;
        Span<byte> octets = stackalloc byte[4];
        for (var i = 0; i < octets.Length; i++)
        {
            var end = i < octets.Length - 1 ? text.IndexOf((byte)'.') : text.Length;
            if (end < 0 || !TryParseDecimal(text[..end], byte.MaxValue, out var value))
            {
                return false;
            }

            octets[i] = (byte)value;
            text = i < octets.Length - 1 ? text[(end + 1)..] : default;
        }

        address = new IPAddress(octets);
        return true;
    }

    /// <summary>
    /// Hexadecimal groups separated by colons, with at most one <c>::</c> and 128 bits in all (section 2.1). Only
    /// hex digits, colons and the dots of an IPv4-mapped tail may appear, so no zone index or bracket slips through.
    /// </summary>
    private static bool TryParseIPv6(ReadOnlySpan<byte> text, out IPAddress address)
    {
        address = IPAddress.IPv6None;
        if (text.Length is < 2 or > 45 || !text.Contains((byte)':') || text.ContainsAnyExcept(IPv6Characters))
        {
            return false;
        }

        Span<char> chars = stackalloc char[text.Length];
        for (var i = 0; i < text.Length; i++)
        {
            chars[i] = (char)text[i];
        }

        if (!IPAddress.TryParse(chars, out var parsed) || parsed.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        address = parsed;
        return true;
    }

    /// <summary>A decimal number up to <paramref name="max"/>, without leading zeroes ("to avoid any possible confusion with octal numbers").</summary>
    private static bool TryParseDecimal(ReadOnlySpan<byte> digits, int max, out int value)
    {
        value = 0;
        if (digits.IsEmpty || digits.Length > 5 || (digits[0] == (byte)'0' && digits.Length > 1))
        {
            return false;
        }

        foreach (var digit in digits)
        {
            if (digit is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (digit - '0');
        }

        return value <= max;
    }

    /// <summary>Version 2 (section 2.2): the 16-octet head, then the address block and TLVs it announces.</summary>
    private static ProxyHeaderStatus TryParseV2(in ReadOnlySequence<byte> input, ReadOnlySpan<byte> head, out SmtpProxyHeader? header, out int length, out ProxyHeaderError error)
    {
        header = null;
        length = 0;
        var signature = Math.Min(head.Length, V2Signature.Length);
        if (!head[..signature].SequenceEqual(V2Signature[..signature]))
        {
            return Fail(ProxyHeaderError.NotProxyProtocol, out error);
        }

        // "The highest four bits contains the version ... the receiver must only accept this value."
        if (head.Length > V2Signature.Length && head[V2Signature.Length] >> 4 != 2)
        {
            return Fail(ProxyHeaderError.V2BadVersion, out error);
        }

        if (head.Length < V2HeadLength)
        {
            error = ProxyHeaderError.None;
            return ProxyHeaderStatus.NeedMoreData;
        }

        var command = head[12] & 0x0F;
        if (command is not (V2LocalCommand or V2ProxyCommand))
        {
            return Fail(ProxyHeaderError.V2BadCommand, out error);
        }

        // Refused before waiting for it: a hostile length never makes the session buffer more than the cap.
        length = V2HeadLength + BinaryPrimitives.ReadUInt16BigEndian(head[14..]);
        if (length > MaxV2Length)
        {
            return Fail(ProxyHeaderError.V2TooLong, out error);
        }

        if (input.Length < length)
        {
            error = ProxyHeaderError.None;
            return ProxyHeaderStatus.NeedMoreData;
        }

        var whole = input.Slice(0, length);
        if (whole.IsSingleSegment)
        {
            return ParseV2Block(whole.FirstSpan, command == V2LocalCommand, head[13], out header, out error);
        }

        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            whole.CopyTo(rented);
            return ParseV2Block(rented.AsSpan(0, length), command == V2LocalCommand, head[13], out header, out error);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>The address block and the TLVs after it, once the whole header is in <paramref name="whole"/>.</summary>
    private static ProxyHeaderStatus ParseV2Block(ReadOnlySpan<byte> whole, bool local, byte family, out SmtpProxyHeader? header, out ProxyHeaderError error)
    {
        header = null;
        if (local)
        {
            // LOCAL: "the receiver must accept this connection as valid and must use the real connection endpoints
            // and discard the protocol block including the family which is ignored."
            header = new SmtpProxyHeader(2, isLocal: true, source: null, destination: null, tlvs: []);
            error = ProxyHeaderError.None;
            return ProxyHeaderStatus.Complete;
        }

        // The seven combinations of section 2.2. Only TCP over IPv4 and IPv6 give a client address; UNSPEC, UDP
        // and UNIX fall back to the socket's own endpoints, as a receiver that does not support them must.
        var addressLength = family switch
        {
            0x00 => 0,
            0x11 or 0x12 => 12,
            0x21 or 0x22 => 36,
            0x31 or 0x32 => 216,
            _ => -1,
        };
        if (addressLength < 0)
        {
            return Fail(ProxyHeaderError.V2BadFamily, out error);
        }

        var block = whole[V2HeadLength..];
        if (block.Length < addressLength)
        {
            return Fail(ProxyHeaderError.V2AddressTruncated, out error);
        }

        IPEndPoint? source = null;
        IPEndPoint? destination = null;
        if (family is 0x11 or 0x21)
        {
            var size = family == 0x11 ? 4 : 16;
            source = new IPEndPoint(new IPAddress(block[..size]), BinaryPrimitives.ReadUInt16BigEndian(block[(2 * size)..]));
            destination = new IPEndPoint(new IPAddress(block[size..(2 * size)]), BinaryPrimitives.ReadUInt16BigEndian(block[((2 * size) + 2)..]));
        }

        if (!TryParseTlvs(whole, V2HeadLength + addressLength, out var tlvs, out error))
        {
            return ProxyHeaderStatus.Invalid;
        }

        header = new SmtpProxyHeader(2, isLocal: false, source, destination, tlvs);
        return ProxyHeaderStatus.Complete;
    }

    /// <summary>
    /// The TLVs from <paramref name="start"/> to the end of the header (section 2.2): each must fit, and the ones
    /// with a defined structure (CRC32C, UNIQUE_ID, SSL) must have it. The values are copied once, together, because
    /// they outlive the network buffer.
    /// </summary>
    private static bool TryParseTlvs(ReadOnlySpan<byte> whole, int start, out IReadOnlyList<SmtpProxyTlv> tlvs, out ProxyHeaderError error)
    {
        tlvs = [];
        error = ProxyHeaderError.None;
        if (start == whole.Length)
        {
            return true;
        }

        var area = whole[start..].ToArray();
        var list = new List<SmtpProxyTlv>();
        var offset = 0;
        while (offset < area.Length)
        {
            if (!TryReadTlv(area, ref offset, out var type, out var valueOffset, out var valueLength))
            {
                error = ProxyHeaderError.V2TlvOverrun;
                return false;
            }

            var value = area.AsSpan(valueOffset, valueLength);
            error = type switch
            {
                SmtpProxyTlvType.Crc32C when valueLength != 4
                    || Crc32C(whole, start + valueOffset) != BinaryPrimitives.ReadUInt32BigEndian(value) => ProxyHeaderError.V2ChecksumMismatch,
                SmtpProxyTlvType.UniqueId when valueLength > MaxUniqueIdLength => ProxyHeaderError.V2UniqueIdTooLong,
                SmtpProxyTlvType.Ssl when !IsWellFormedSsl(value) => ProxyHeaderError.V2SslTlvMalformed,
                _ => ProxyHeaderError.None,
            };
            if (error != ProxyHeaderError.None)
            {
                return false;
            }

            list.Add(new SmtpProxyTlv(type, area.AsMemory(valueOffset, valueLength)));
        }

        tlvs = list;
        return true;
    }

    /// <summary>One <c>pp2_tlv</c>: a type octet, a 16-bit big-endian length, and that many octets, all within <paramref name="area"/>.</summary>
    private static bool TryReadTlv(ReadOnlySpan<byte> area, ref int offset, out SmtpProxyTlvType type, out int valueOffset, out int valueLength)
    {
        type = default;
        valueOffset = 0;
        valueLength = 0;
        var rest = area[offset..];
        if (rest.Length < TlvHeadLength)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(rest[1..]);
        if (rest.Length - TlvHeadLength < length)
        {
            return false;
        }

        type = (SmtpProxyTlvType)rest[0];
        valueOffset = offset + TlvHeadLength;
        valueLength = length;
        offset = valueOffset + length;
        return true;
    }

    /// <summary><c>pp2_tlv_ssl</c> (section 2.2.6): the client octet, the verify field, then sub-TLVs that each fit.</summary>
    private static bool IsWellFormedSsl(ReadOnlySpan<byte> value)
    {
        if (value.Length < SslHeadLength)
        {
            return false;
        }

        var subTlvs = value[SslHeadLength..];
        var offset = 0;
        while (offset < subTlvs.Length)
        {
            if (!TryReadTlv(subTlvs, ref offset, out _, out _, out _))
            {
                return false;
            }
        }

        return true;
    }

    private static ProxyHeaderStatus Fail(ProxyHeaderError reason, out ProxyHeaderError error)
    {
        error = reason;
        return ProxyHeaderStatus.Invalid;
    }
}
