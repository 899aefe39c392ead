using System.Collections.Concurrent;
using System.Text;

namespace Smtpd.Tests.Adversarial;

/// <summary>
/// SMTP smuggling (the 2023 class; CVE-2023-51764 Postfix, CVE-2023-51765 Sendmail, CVE-2023-51766 Exim) end to end
/// over a socket: a fake end-of-data marker followed by a whole second transaction. Whatever the marker, the server
/// never runs the smuggled commands: a lone dot next to a bare CR or LF gets 421 and a close before they are read,
/// and any other marker is content of the one message.
/// The decoder-level variants are in <c>Parsing/DataDecoderTests</c>; these check the session around it.
/// </summary>
public sealed class SmugglingTests
{
    private const string Smuggled = "MAIL FROM:<smuggled@evil.example>\r\nRCPT TO:<victim@b.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n";
    private const string BareEndMarker421 = "421 4.5.0 Lone dot next to a bare CR or LF; end data with <CR><LF>.<CR><LF> (RFC 5321 4.1.1.4); closing connection";

    /// <summary>The fake markers of issue 7, and whether each holds a bare CR or LF (so Reject refuses the message).</summary>
    public static TheoryData<string, bool, Delivery> Markers
    {
        get
        {
            var data = new TheoryData<string, bool, Delivery>();
            (string Marker, bool Bare)[] markers =
            [
                ("\n.\n", true), ("\n.\r\n", true), ("\r\n.\n", true), ("\r.\r", true), ("\r\n.\r", true), ("\r.\r\n", true),
                ("\r\n.\r\r\n", true), ("\r\n\0.\r\n", false),
            ];
            foreach (var (marker, bare) in markers)
            {
                data.Add(marker, bare, Delivery.Whole);
                data.Add(marker, bare, Delivery.ByteByByte);
            }

            return data;
        }
    }

    public static TheoryData<string> MarkerTexts => new("\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r\n.\r", "\r.\r\n", "\r\n.\r\r\n", "\r\n\0.\r\n");

    [Theory]
    [MemberData(nameof(Markers))]
    public async Task UnderTheDefaultRejectPolicyAFakeEndOfDataGetsExactlyOneReplyAndTheSmuggledCommandsNeverRun(string marker, bool bare, Delivery delivery)
    {
        var senders = new ConcurrentQueue<string>();
        await using var server = Wire.StartRecordingSenders(senders);
        var transcript = await SendSmugglingAttemptAsync(server, marker, delivery);

        AssertOneAnswerForTheContent(transcript, bare);
        Assert.Equal(["real@good.example"], senders);
        if (bare)
        {
            Assert.Empty(server.Messages);
        }
        else
        {
            // The one marker without a bare line ending ("\r\n\0.\r\n") is ordinary content: one message holds it all.
            var message = Assert.Single(server.Messages);
            Assert.Equal("Subject: real\r\n\r\nA" + marker + Smuggled, Encoding.Latin1.GetString(message.Content));
        }
    }

    [Theory]
    [MemberData(nameof(Markers))]
    public async Task UnderNormalizeAFakeEndOfDataLeavesAtMostOneMessageWithTheSmuggledTextInside(string marker, bool bare, Delivery delivery)
    {
        var senders = new ConcurrentQueue<string>();
        await using var server = Wire.StartRecordingSenders(senders, o => o.BareLineEndings = BareLineEndingPolicy.Normalize);
        var transcript = await SendSmugglingAttemptAsync(server, marker, delivery);

        AssertOneAnswerForTheContent(transcript, bare);
        Assert.Equal(["real@good.example"], senders);
        if (bare)
        {
            // A lone dot next to a bare ending: 421 and a close before anything after it is read.
            Assert.Empty(server.Messages);
            return;
        }

        var message = Assert.Single(server.Messages);
        var text = Encoding.Latin1.GetString(message.Content);
        Assert.StartsWith("Subject: real\r\n\r\nA", text, StringComparison.Ordinal);
        Assert.EndsWith(Smuggled, text, StringComparison.Ordinal);
        Assert.Equal(["victim@b.example"], message.Envelope.Recipients.Select(r => r.Address));
        // Normalized content has CRLF line ends only.
        Assert.DoesNotMatch("(?<!\r)\n|\r(?!\n)", text);
    }

    /// <summary>
    /// Exactly one answer for the whole content: for a fake marker with a bare ending, the 421 that closes the
    /// connection (RFC 5321 3.8); otherwise the content's 250 and then QUIT's 221. Never a 250 for a smuggled MAIL,
    /// RCPT or DATA.
    /// </summary>
    private static void AssertOneAnswerForTheContent(Transcript transcript, bool bare)
    {
        Wire.AssertWellFormed(transcript);
        string[] expected = bare
            ? ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>", BareEndMarker421]
            : ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Message accepted", "221 2.0.0 Bye"];
        Assert.Equal(expected, transcript.Replies[1..]);
    }

    [Theory]
    [MemberData(nameof(Markers))]
    public async Task InsideOneBdatChunkEveryOctetIsContentAndNothingIsACommand(string marker, bool bare, Delivery delivery)
    {
        _ = bare;
        var senders = new ConcurrentQueue<string>();
        await using var server = Wire.StartRecordingSenders(senders);
        var chunk = Wire.Bytes("Subject: real\r\n\r\nA" + marker + Smuggled + ".\r\nQUIT\r\n");
        var script = Concat(
            Wire.Bytes($"EHLO client.test\r\nMAIL FROM:<real@good.example>\r\nRCPT TO:<victim@b.example>\r\nBDAT {chunk.Length} LAST\r\n"),
            chunk,
            Wire.Bytes("NOOP\r\nQUIT\r\n"));

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, script, delivery);

        Wire.AssertWellFormed(transcript);
        Assert.Equal(
            ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 Message accepted", "250 2.0.0 OK", "221 2.0.0 Bye"],
            transcript.Replies[1..]);
        Assert.Equal(["real@good.example"], senders);
        Assert.Equal(chunk, Assert.Single(server.Messages).Content);
    }

    [Theory]
    [MemberData(nameof(MarkerTexts))]
    public async Task AFakeEndOfDataSplitAcrossTwoBdatChunksIsStillContent(string marker)
    {
        var senders = new ConcurrentQueue<string>();
        await using var server = Wire.StartRecordingSenders(senders, o => o.BareLineEndings = BareLineEndingPolicy.Normalize);
        var first = Wire.Bytes("A" + marker[..(marker.Length / 2)]);
        var second = Wire.Bytes(marker[(marker.Length / 2)..] + Smuggled + ".\r\n");
        var script = Concat(
            Wire.Bytes($"EHLO client.test\r\nMAIL FROM:<real@good.example>\r\nRCPT TO:<victim@b.example>\r\nBDAT {first.Length}\r\n"),
            first,
            Wire.Bytes($"BDAT {second.Length} LAST\r\n"),
            second,
            Wire.Bytes("QUIT\r\n"));

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, script);

        Wire.AssertWellFormed(transcript);
        Assert.Equal(
            ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", $"250 2.0.0 {first.Length} octets received", "250 2.0.0 Message accepted", "221 2.0.0 Bye"],
            transcript.Replies[1..]);
        Assert.Equal(["real@good.example"], senders);
        // BDAT content is binary: the policy for bare line endings in DATA does not touch it.
        Assert.Equal(Concat(first, second), Assert.Single(server.Messages).Content);
    }

    [Fact]
    public async Task TheRealEndOfDataFollowedByASecondTransactionInTheSameWriteGivesTwoMessagesEachWithItsOwnEnvelope()
    {
        // The control case: with a genuine CRLF.CRLF the second transaction is legitimate pipelining (RFC 2920),
        // which shows the tests above would see a smuggled transaction if the server ran one.
        var senders = new ConcurrentQueue<string>();
        await using var server = Wire.StartRecordingSenders(senders);
        var transcript = await SendSmugglingAttemptAsync(server, "\r\n.\r\n", Delivery.Whole, smuggledEnd: "\r\n.\r\n");

        Wire.AssertWellFormed(transcript);
        Assert.Equal(
            ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Message accepted",
             "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Message accepted", "221 2.0.0 Bye"],
            transcript.Replies[1..]);
        Assert.Equal(["real@good.example", "smuggled@evil.example"], senders);
        Assert.Equal(2, server.Messages.Count);
    }

    /// <summary>
    /// EHLO, a real transaction whose content is <c>"A" + marker + a whole second transaction</c>, the real end of
    /// data, and QUIT, in one script: octets after an accepted DATA are content whether or not the 354 has been read
    /// (docs/protocol.md), and byte-by-byte delivery makes the server meet every octet on its own.
    /// </summary>
    private static async Task<Transcript> SendSmugglingAttemptAsync(TestServer server, string marker, Delivery delivery, string smuggledEnd = ".\r\n")
    {
        var script = Wire.Bytes(
            "EHLO client.test\r\nMAIL FROM:<real@good.example>\r\nRCPT TO:<victim@b.example>\r\nDATA\r\n"
            + "Subject: real\r\n\r\nA" + marker + Smuggled + smuggledEnd + "QUIT\r\n");
        return (await Wire.RunAsync(server.EndPoint, script, delivery)).Transcript;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
