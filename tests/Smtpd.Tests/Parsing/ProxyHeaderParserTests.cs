using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Text;
using Smtpd.Parsing;

namespace Smtpd.Tests.Parsing;

/// <summary>
/// <see cref="ProxyHeaderParser"/>: HAProxy's PROXY protocol, version 1 (text) and version 2 (binary, with TLVs).
/// Every input is fed three ways (<see cref="FeedMode"/>) the way a socket delivers it: after each piece the parser
/// sees everything received so far, so every incomplete prefix must ask for more and consume nothing, and a bad
/// header must be refused as soon as the octet that makes it bad arrives.
/// </summary>
public sealed class ProxyHeaderParserTests
{
    private static readonly byte[] Signature = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private sealed record Outcome(ProxyHeaderStatus Status, SmtpProxyHeader? Header, ProxyHeaderError Error, long Consumed, int Received);

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    /// <summary>Feeds the pieces one after another, parsing all that has arrived after each; stops at the first answer that is not "more".</summary>
    private static Outcome Feed(byte[] input, FeedMode mode)
    {
        var received = 0;
        foreach (var piece in Support.Feed.Split(input, mode))
        {
            received += piece.Length;
            var reader = new SequenceReader<byte>(Support.Feed.AsSequence(input[..received], mode));
            var status = ProxyHeaderParser.TryParse(ref reader, out var header, out var error);
            if (status != ProxyHeaderStatus.NeedMoreData)
            {
                return new Outcome(status, header, error, reader.Consumed, received);
            }

            Assert.Equal(0, reader.Consumed);
            Assert.Null(header);
        }

        return new Outcome(ProxyHeaderStatus.NeedMoreData, null, ProxyHeaderError.None, 0, received);
    }

    private static SmtpProxyHeader Complete(byte[] header, FeedMode mode, string after = "EHLO client.example\r\n")
    {
        var input = header.Concat(Ascii(after)).ToArray();
        var outcome = Feed(input, mode);
        Assert.Equal(ProxyHeaderStatus.Complete, outcome.Status);
        Assert.Equal(ProxyHeaderError.None, outcome.Error);
        Assert.Equal(header.Length, outcome.Consumed);
        return outcome.Header!;
    }

    private static Outcome Refused(byte[] input, FeedMode mode, ProxyHeaderError expected)
    {
        var outcome = Feed(input, mode);
        Assert.Equal(ProxyHeaderStatus.Invalid, outcome.Status);
        Assert.Equal(expected, outcome.Error);
        Assert.Null(outcome.Header);
        Assert.Equal(0, outcome.Consumed);
        return outcome;
    }

    private static byte[] V2(byte versionCommand, byte family, byte[] addresses, params byte[][] tlvs)
    {
        var body = addresses.Concat(tlvs.SelectMany(t => t)).ToArray();
        var length = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)body.Length);
        return [.. Signature, versionCommand, family, .. length, .. body];
    }

    private static byte[] Tlv(int type, byte[] value)
    {
        var length = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)value.Length);
        return [(byte)type, .. length, .. value];
    }

    private static byte[] IPv4Block(string source, string destination, ushort sourcePort, ushort destinationPort)
    {
        var ports = new byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(ports, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(ports.AsSpan(2), destinationPort);
        return [.. IPAddress.Parse(source).GetAddressBytes(), .. IPAddress.Parse(destination).GetAddressBytes(), .. ports];
    }

    private static byte[] IPv4Tcp => IPv4Block("192.0.2.10", "198.51.100.1", 56324, 25);

    // Version 1

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AVersion1Tcp4HeaderNamesTheClientAndLeavesTheSmtpThatFollows(FeedMode mode)
    {
        AssertNamesTheTcp4Client(Complete(Ascii("PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\r\n"), mode), version: 1);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AVersion1Tcp6HeaderNamesAnIPv6Client(FeedMode mode)
    {
        var header = Complete(Ascii("PROXY TCP6 2001:db8::10 2001:DB8:0:0:0:0:0:1 40000 587\r\n"), mode);

        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::10"), 40000), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 587), header.Destination);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void Version1PortsZeroAndTheExtremeAddressesAreValid(FeedMode mode)
    {
        var header = Complete(Ascii("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"), mode);

        Assert.Equal(new IPEndPoint(IPAddress.Any, 0), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Broadcast, 65535), header.Destination);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AnIPv4MappedAddressInTcp6IsKeptAsSentInTheHeader(FeedMode mode)
    {
        var header = Complete(Ascii("PROXY TCP6 ::ffff:192.0.2.10 ::1 1234 25\r\n"), mode);

        Assert.Equal(IPAddress.Parse("::ffff:192.0.2.10"), header.Source!.Address);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void Version1UnknownCarriesNoAddressAndWhatFollowsItIsIgnored(FeedMode mode)
    {
        var shortForm = Complete(Ascii("PROXY UNKNOWN\r\n"), mode);
        var longForm = Complete(Ascii("PROXY UNKNOWN whatever the sender put here 1 2\r\n"), mode);

        foreach (var header in new[] { shortForm, longForm })
        {
            Assert.Equal(1, header.Version);
            Assert.Null(header.Source);
            Assert.Null(header.Destination);
            Assert.False(header.IsLocal);
        }
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void TheLongestVersion1LineOf107OctetsIsAccepted(FeedMode mode)
    {
        const string full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        var line = Ascii($"PROXY UNKNOWN {full} {full} 65535 65535\r\n");
        Assert.Equal(ProxyHeaderParser.MaxV1Length, line.Length);

        Complete(line, mode);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(full), 65535), Complete(Ascii($"PROXY TCP6 {full} {full} 65535 65535\r\n"), mode).Source);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AVersion1LineWithoutCrLfWithin107OctetsIsRefusedAfterExactly107(FeedMode mode)
    {
        var input = Ascii("PROXY UNKNOWN " + new string('x', 300) + "\r\n");

        var outcome = Refused(input, mode, ProxyHeaderError.V1TooLong);

        Assert.True(outcome.Received >= ProxyHeaderParser.MaxV1Length);
        if (mode == FeedMode.ByteByByte)
        {
            Assert.Equal(ProxyHeaderParser.MaxV1Length, outcome.Received);
        }
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AVersion1LineEndingInABareLineFeedIsRefused(FeedMode mode) =>
        Refused(Ascii("PROXY TCP4 192.0.2.10 198.51.100.1 56324 25\nEHLO x\r\n"), mode, ProxyHeaderError.V1Malformed);

    [Theory]
    [InlineData("PROXY TCP4  192.0.2.10 198.51.100.1 1 25\r\n", nameof(ProxyHeaderError.V1Malformed))]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.1 1\r\n", nameof(ProxyHeaderError.V1Malformed))]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.1 1 25 9\r\n", nameof(ProxyHeaderError.V1Malformed))]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.1 1 25 \r\n", nameof(ProxyHeaderError.V1Malformed))]
    [InlineData("PROXY TCP4\r\n", nameof(ProxyHeaderError.V1UnknownProtocol))]
    [InlineData("PROXY TCP5 192.0.2.10 198.51.100.1 1 25\r\n", nameof(ProxyHeaderError.V1UnknownProtocol))]
    [InlineData("PROXY tcp4 192.0.2.10 198.51.100.1 1 25\r\n", nameof(ProxyHeaderError.V1UnknownProtocol))]
    [InlineData("PROXY UDP4 192.0.2.10 198.51.100.1 1 25\r\n", nameof(ProxyHeaderError.V1UnknownProtocol))]
    [InlineData("PROXY \r\n", nameof(ProxyHeaderError.V1UnknownProtocol))]
    [InlineData("PROXY UNKNOWN\n", nameof(ProxyHeaderError.V1Malformed))]
    [InlineData("PROXY TCP4 256.0.2.10 198.51.100.1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP4 192.0.2.010 198.51.100.1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP4 192.0.2 198.51.100.1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP4 192.0.2.1.5 198.51.100.1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP4 0x7f.0.0.1 198.51.100.1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP4 192.0.2.10 2001:db8::1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP6 192.0.2.10 2001:db8::1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP6 fe80::1%eth0 2001:db8::1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP6 [2001:db8::2] 2001:db8::1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP6 2001:db8:::2 2001:db8::1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP6 1:2:3:4:5:6:7:8:9 2001:db8::1 1 25\r\n", nameof(ProxyHeaderError.V1BadAddress))]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.1 65536 25\r\n", nameof(ProxyHeaderError.V1BadPort))]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.1 025 25\r\n", nameof(ProxyHeaderError.V1BadPort))]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.1 -1 25\r\n", nameof(ProxyHeaderError.V1BadPort))]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.1 1 2a\r\n", nameof(ProxyHeaderError.V1BadPort))]
    [InlineData("PROXY TCP4 192.0.2.10 198.51.100.1 1 999999\r\n", nameof(ProxyHeaderError.V1BadPort))]
    public void MalformedVersion1LinesAreRefusedWithTheirReason(string line, string reason)
    {
        foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
        {
            Refused(Ascii(line), mode, Enum.Parse<ProxyHeaderError>(reason));
        }
    }

    [Theory]
    [InlineData("EHLO client.example\r\n", 1)]
    [InlineData("proxy TCP4 192.0.2.10 198.51.100.1 1 25\r\n", 1)]
    [InlineData("PROXYTCP4 192.0.2.10 198.51.100.1 1 25\r\n", 6)]
    [InlineData("\x16\x03\x01\x02\x00\x01", 1)]
    [InlineData("\r\n\r\n\0\r\nQUIX\n", 11)]
    public void InputThatIsNotAProxyHeaderIsRefusedAtTheFirstOctetThatDiffers(string input, int decidedAfter)
    {
        var outcome = Refused(Encoding.Latin1.GetBytes(input), FeedMode.ByteByByte, ProxyHeaderError.NotProxyProtocol);

        Assert.Equal(decidedAfter, outcome.Received);
    }

    [Fact]
    public void NothingYetAsksForMore()
    {
        var reader = new SequenceReader<byte>(ReadOnlySequence<byte>.Empty);

        Assert.Equal(ProxyHeaderStatus.NeedMoreData, ProxyHeaderParser.TryParse(ref reader, out var header, out var error));
        Assert.Null(header);
        Assert.Equal(ProxyHeaderError.None, error);
    }

    // Version 2

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AVersion2ProxyHeaderOverTcp4NamesTheClient(FeedMode mode)
    {
        AssertNamesTheTcp4Client(Complete(V2(0x21, 0x11, IPv4Tcp), mode), version: 2);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AVersion2ProxyHeaderOverTcp6NamesAnIPv6Client(FeedMode mode)
    {
        byte[] block = [.. IPAddress.Parse("2001:db8::10").GetAddressBytes(), .. IPAddress.Parse("2001:db8::1").GetAddressBytes(), 0x9c, 0x40, 0x02, 0x4b];

        var header = Complete(V2(0x21, 0x21, block), mode);

        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::10"), 40000), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 587), header.Destination);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AVersion2LocalHeaderKeepsTheRealEndpointsAndIgnoresItsBlock(FeedMode mode)
    {
        var unspecified = Complete(V2(0x20, 0x00, []), mode);
        // "discard the protocol block including the family which is ignored": even a family no PROXY command may use.
        var withBlock = Complete(V2(0x20, 0x77, [1, 2, 3, 4, 5]), mode);

        foreach (var header in new[] { unspecified, withBlock })
        {
            Assert.True(header.IsLocal);
            Assert.Null(header.Source);
            Assert.Empty(header.Tlvs);
        }
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void UnspecifiedUdpAndUnixFamiliesFallBackToTheRealEndpointsButKeepTheirTlvs(FeedMode mode)
    {
        var unspecified = Complete(V2(0x21, 0x00, [], Tlv(0x02, Ascii("mx.example"))), mode);
        var udp = Complete(V2(0x21, 0x12, IPv4Tcp), mode);
        var unix = Complete(V2(0x21, 0x31, new byte[216], Tlv(0x02, Ascii("mx.example"))), mode);

        foreach (var header in new[] { unspecified, udp, unix })
        {
            Assert.False(header.IsLocal);
            Assert.Null(header.Source);
            Assert.Null(header.Destination);
        }

        Assert.Equal("mx.example", unspecified.Authority);
        Assert.Equal("mx.example", unix.Authority);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void Version2TlvsAreReadWithTypedAccessorsForTheRegisteredOnes(FeedMode mode)
    {
        byte[] ssl =
        [
            0x07, 0, 0, 0, 0,
            .. Tlv(0x21, Ascii("TLSv1.3")),
            .. Tlv(0x22, Encoding.UTF8.GetBytes("Jürgen client")),
            .. Tlv(0x23, Ascii("TLS_AES_256_GCM_SHA384")),
            .. Tlv(0x24, Ascii("RSA-SHA256")),
            .. Tlv(0x25, Ascii("RSA2048")),
        ];
        var header = Complete(
            V2(0x21, 0x11, IPv4Tcp,
                Tlv(0x01, Ascii("smtp")),
                Tlv(0x02, Ascii("mx.example.com")),
                Tlv(0x04, new byte[5]),
                Tlv(0x05, [1, 2, 3, 0xff]),
                Tlv(0x20, ssl),
                Tlv(0x30, Ascii("blue")),
                Tlv(0xE0, [0xCA, 0xFE]),
                Tlv(0xE1, [])),
            mode);

        Assert.Equal("smtp", header.Alpn);
        Assert.Equal("mx.example.com", header.Authority);
        Assert.Equal(new byte[] { 1, 2, 3, 0xff }, header.UniqueId!.Value.ToArray());
        Assert.Equal("blue", header.NetworkNamespace);
        Assert.Equal(
            [SmtpProxyTlvType.Alpn, SmtpProxyTlvType.Authority, SmtpProxyTlvType.Noop, SmtpProxyTlvType.UniqueId, SmtpProxyTlvType.Ssl, SmtpProxyTlvType.NetworkNamespace, (SmtpProxyTlvType)0xE0, (SmtpProxyTlvType)0xE1],
            header.Tlvs.Select(t => t.Type));
        Assert.True(header.TryGetTlv((SmtpProxyTlvType)0xE0, out var custom));
        Assert.Equal(new byte[] { 0xCA, 0xFE }, custom.ToArray());
        Assert.True(header.TryGetTlv((SmtpProxyTlvType)0xE1, out var empty));
        Assert.True(empty.IsEmpty);
        Assert.False(header.TryGetTlv(SmtpProxyTlvType.Crc32C, out _));

        var tls = header.Ssl!;
        Assert.Equal(SmtpProxySslClient.Ssl | SmtpProxySslClient.CertificateInConnection | SmtpProxySslClient.CertificateInSession, tls.Client);
        Assert.Equal(0u, tls.Verify);
        Assert.True(tls.IsClientCertificateVerified);
        Assert.Equal("TLSv1.3", tls.Version);
        Assert.Equal("Jürgen client", tls.CommonName);
        Assert.Equal("TLS_AES_256_GCM_SHA384", tls.Cipher);
        Assert.Equal("RSA-SHA256", tls.SignatureAlgorithm);
        Assert.Equal("RSA2048", tls.KeyAlgorithm);
        Assert.Equal(5, tls.SubTlvs.Count);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AnSslTlvWithoutACertificateIsNotAVerifiedCertificate(FeedMode mode)
    {
        var header = Complete(V2(0x21, 0x11, IPv4Tcp, Tlv(0x20, [0x01, 0, 0, 0, 0, .. Tlv(0x21, Ascii("TLSv1.2"))])), mode);

        Assert.Equal(SmtpProxySslClient.Ssl, header.Ssl!.Client);
        Assert.False(header.Ssl.IsClientCertificateVerified);
        Assert.Null(header.Ssl.CommonName);
        Assert.Null(header.Alpn);
        Assert.Null(header.UniqueId);
    }

    [Fact]
    public void Crc32CIsTheCastagnoliChecksum()
    {
        // The check value of CRC-32C (RFC 3720 B.4, and every CRC catalogue).
        Assert.Equal(0xE3069283u, ProxyHeaderParser.Crc32C("123456789"u8));
        // The checksum field is read as zeroes wherever it sits.
        Assert.Equal(ProxyHeaderParser.Crc32C("12345\0\0\0\09"u8), ProxyHeaderParser.Crc32C("12345abcd9"u8, zeroedAt: 5));
        Assert.NotEqual(ProxyHeaderParser.Crc32C("12345\0\0\0\09"u8), ProxyHeaderParser.Crc32C("12345abcd9"u8));
    }

    private static byte[] WithChecksum(byte[] header)
    {
        var at = header.Length - 4;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(at), ProxyHeaderParser.Crc32C(header, zeroedAt: at));
        return header;
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AMatchingCrc32CIsAccepted(FeedMode mode)
    {
        var header = Complete(WithChecksum(V2(0x21, 0x11, IPv4Tcp, Tlv(0x01, Ascii("smtp")), Tlv(0x03, new byte[4]))), mode);

        Assert.Equal("smtp", header.Alpn);
        Assert.True(header.TryGetTlv(SmtpProxyTlvType.Crc32C, out _));
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void ACrc32CThatDoesNotMatchTheHeaderIsRefused(FeedMode mode)
    {
        var header = WithChecksum(V2(0x21, 0x11, IPv4Tcp, Tlv(0x01, Ascii("smtp")), Tlv(0x03, new byte[4])));
        header[17] ^= 1;

        Refused(header, mode, ProxyHeaderError.V2ChecksumMismatch);
        Refused(V2(0x21, 0x11, IPv4Tcp, Tlv(0x03, new byte[3])), mode, ProxyHeaderError.V2ChecksumMismatch);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AVersion2HeaderOfExactlyTheCapIsAcceptedAndOneOctetMoreIsRefusedBeforeItArrives(FeedMode mode)
    {
        var padding = ProxyHeaderParser.MaxV2Length - 16 - IPv4Tcp.Length - 3;
        var atCap = V2(0x21, 0x11, IPv4Tcp, Tlv(0x04, new byte[padding]));
        Assert.Equal(ProxyHeaderParser.MaxV2Length, atCap.Length);
        Complete(atCap, mode);

        var overCap = V2(0x21, 0x11, IPv4Tcp, Tlv(0x04, new byte[padding + 1]));
        var outcome = Refused(overCap, mode, ProxyHeaderError.V2TooLong);
        if (mode == FeedMode.ByteByByte)
        {
            Assert.Equal(16, outcome.Received);
        }
    }

    [Fact]
    public void TheLargestLengthTheFieldAllowsIsRefusedFromTheHeadAlone()
    {
        byte[] head = [.. Signature, 0x21, 0x11, 0xff, 0xff];
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(head));

        Assert.Equal(ProxyHeaderStatus.Invalid, ProxyHeaderParser.TryParse(ref reader, out _, out var error));
        Assert.Equal(ProxyHeaderError.V2TooLong, error);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void ATruncatedVersion2HeaderWaitsAndConsumesNothing(FeedMode mode)
    {
        var header = V2(0x21, 0x11, IPv4Tcp, Tlv(0x01, Ascii("smtp")));

        var outcome = Feed(header[..^1], mode);

        Assert.Equal(ProxyHeaderStatus.NeedMoreData, outcome.Status);
        Assert.Equal(0, outcome.Consumed);
    }

    [Theory]
    [InlineData(0x11, 0x11, nameof(ProxyHeaderError.V2BadVersion), 13)]
    [InlineData(0x31, 0x11, nameof(ProxyHeaderError.V2BadVersion), 13)]
    [InlineData(0x22, 0x11, nameof(ProxyHeaderError.V2BadCommand), 16)]
    [InlineData(0x2f, 0x11, nameof(ProxyHeaderError.V2BadCommand), 16)]
    [InlineData(0x21, 0x13, nameof(ProxyHeaderError.V2BadFamily), 28)]
    [InlineData(0x21, 0x10, nameof(ProxyHeaderError.V2BadFamily), 28)]
    [InlineData(0x21, 0x01, nameof(ProxyHeaderError.V2BadFamily), 28)]
    [InlineData(0x21, 0x41, nameof(ProxyHeaderError.V2BadFamily), 28)]
    public void Version2HeadsOutsideTheSpecificationAreRefused(int versionCommand, int family, string reason, int decidedAfter)
    {
        foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
        {
            var outcome = Refused(V2((byte)versionCommand, (byte)family, IPv4Tcp), mode, Enum.Parse<ProxyHeaderError>(reason));
            if (mode == FeedMode.ByteByByte)
            {
                Assert.Equal(decidedAfter, outcome.Received);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AVersion2SignatureWithOneWrongOctetIsNotAProxyHeader(FeedMode mode)
    {
        var header = V2(0x21, 0x11, IPv4Tcp);
        header[4] = 0x20;

        Refused(header, mode, ProxyHeaderError.NotProxyProtocol);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AVersion2LengthTooShortForTheFamilysAddressesIsRefused(FeedMode mode)
    {
        Refused(V2(0x21, 0x11, IPv4Tcp[..8]), mode, ProxyHeaderError.V2AddressTruncated);
        Refused(V2(0x21, 0x21, IPv4Tcp), mode, ProxyHeaderError.V2AddressTruncated);
        Refused(V2(0x21, 0x31, new byte[215]), mode, ProxyHeaderError.V2AddressTruncated);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void ATlvWhoseLengthRunsPastTheHeaderIsRefused(FeedMode mode)
    {
        // The value claims 10 octets; 5 follow before the header's end.
        Refused(V2(0x21, 0x11, IPv4Tcp, [0x02, 0x00, 0x0a, 1, 2, 3, 4, 5]), mode, ProxyHeaderError.V2TlvOverrun);
        // Two octets cannot even hold a TLV's type and length.
        Refused(V2(0x21, 0x11, IPv4Tcp, Tlv(0x01, Ascii("smtp")), [0x04, 0x00]), mode, ProxyHeaderError.V2TlvOverrun);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AMalformedSslTlvIsRefused(FeedMode mode)
    {
        Refused(V2(0x21, 0x11, IPv4Tcp, Tlv(0x20, [0x01, 0, 0, 0])), mode, ProxyHeaderError.V2SslTlvMalformed);
        Refused(V2(0x21, 0x11, IPv4Tcp, Tlv(0x20, [0x01, 0, 0, 0, 0, 0x21, 0x00, 0x09, (byte)'T'])), mode, ProxyHeaderError.V2SslTlvMalformed);
    }

    [Theory]
    [MemberData(nameof(Support.Feed.Modes), MemberType = typeof(Support.Feed))]
    public void AUniqueIdLongerThan128OctetsIsRefused(FeedMode mode)
    {
        Assert.Equal(128, Complete(V2(0x21, 0x11, IPv4Tcp, Tlv(0x05, new byte[128])), mode).UniqueId!.Value.Length);
        Refused(V2(0x21, 0x11, IPv4Tcp, Tlv(0x05, new byte[129])), mode, ProxyHeaderError.V2UniqueIdTooLong);
    }

    /// <summary>The TCP4 example both versions encode: client 192.0.2.10:56324, server 198.51.100.1:25, no TLVs.</summary>
    private static void AssertNamesTheTcp4Client(SmtpProxyHeader header, int version)
    {
        Assert.Equal(version, header.Version);
        Assert.False(header.IsLocal);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.10"), 56324), header.Source);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.1"), 25), header.Destination);
        Assert.Empty(header.Tlvs);
    }
}
