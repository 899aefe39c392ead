using System.Text;
using Smtpd.IO;
using Smtpd.Parsing;

namespace Smtpd.Tests.Parsing;

/// <summary>
/// <see cref="DataDecoder"/>: dot-unstuffing, the end of data (only CRLF.CRLF) and the SMTP smuggling class.
/// Every input is fed three ways (<see cref="Feed.Split"/>), one <see cref="DataDecoder.Decode"/> call per piece.
/// </summary>
public sealed class DataDecoderTests
{
    private const int TextLineLimit = 1000;

    private sealed record Result(byte[] Content, long Consumed, bool IsDone, bool SawBareLineEnding, bool SawLongLine, bool StoppedAtBareEndMarker)
    {
        public string Text => Encoding.Latin1.GetString(Content);
    }

    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    private static Result Decode(string input, FeedMode mode, BareLineEndingPolicy policy = BareLineEndingPolicy.Reject) =>
        Decode(Bytes(input), mode, policy);

    private static Result Decode(byte[] input, FeedMode mode, BareLineEndingPolicy policy = BareLineEndingPolicy.Reject)
    {
        var decoder = new DataDecoder(policy, TextLineLimit);
        using var output = new MessageBuffer(64 * 1024, long.MaxValue, null);
        return Decode(decoder, output, input, mode);
    }

    private static Result Decode(DataDecoder decoder, MessageBuffer output, byte[] input, FeedMode mode)
    {
        long consumed = 0;
        foreach (var piece in Feed.Split(input, mode))
        {
            var wasDone = decoder.IsDone;
            var used = decoder.Decode(piece, output);

            // Until the end of data every octet is consumed; after it, none.
            Assert.InRange(used, 0, piece.Length);
            if (wasDone)
            {
                Assert.Equal(0, used);
            }
            else if (!decoder.IsDone)
            {
                Assert.Equal(piece.Length, used);
            }

            consumed += used;
        }

        output.Complete();
        using var stream = output.OpenRead();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return new Result(copy.ToArray(), consumed, decoder.IsDone, decoder.SawBareLineEnding, decoder.SawLongLine, decoder.StoppedAtBareEndMarker);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void ContentIsCopiedUpToTheEndMarkerWhichIsNotContent(FeedMode mode)
    {
        const string Content = "Subject: test\r\n\r\nHello\r\nWorld\r\n";

        var result = Decode(Content + ".\r\n", mode);

        Assert.True(result.IsDone);
        Assert.Equal(Content, result.Text);
        Assert.Equal(Content.Length + 3, result.Consumed);
        Assert.False(result.SawBareLineEnding);
        Assert.False(result.SawLongLine);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void EightBitAndBinaryOctetsPassThroughUnchanged(FeedMode mode)
    {
        var content = new List<byte>();
        for (var b = 0; b < 256; b++)
        {
            if (b is not ('\r' or '\n'))
            {
                content.Add((byte)b);
            }
        }

        content.AddRange("\r\n"u8.ToArray());
        var result = Decode([.. content, .. ".\r\n"u8], mode);

        Assert.True(result.IsDone);
        Assert.Equal(content, result.Content);
        Assert.False(result.SawBareLineEnding);
    }

    public static TheoryData<string, string, FeedMode> Unstuffing
    {
        get
        {
            var data = new TheoryData<string, string, FeedMode>();
            (string Line, string Content)[] cases =
            [
                ("..x\r\n", ".x\r\n"),
                ("...\r\n", "..\r\n"),
                ("..\r\n", ".\r\n"),
                ("....\r\n", "...\r\n"),
                (".x\r\n", "x\r\n"),
                ("x.\r\n", "x.\r\n"),
                ("x..y\r\n", "x..y\r\n"),
                (" .\r\n", " .\r\n"),
                (". \r\n", " \r\n"),
            ];
            foreach (var (line, content) in cases)
            {
                foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
                {
                    data.Add(line, content, mode);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Unstuffing))]
    public void DotUnstuffingRemovesExactlyOneLeadingDot(string line, string content, FeedMode mode)
    {
        var result = Decode("first\r\n" + line + "last\r\n.\r\n", mode);

        Assert.True(result.IsDone);
        Assert.Equal("first\r\n" + content + "last\r\n", result.Text);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void DotUnstuffingAppliesOnTheFirstLineToo(FeedMode mode)
    {
        Assert.Equal("..\r\n", Decode("...\r\n.\r\n", mode).Text);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void ALineOfOneDotEndsTheDataAndWhatFollowsIsNotConsumed(FeedMode mode)
    {
        var result = Decode("a\r\n.\r\nb\r\n.\r\n", mode);

        Assert.True(result.IsDone);
        Assert.Equal("a\r\n", result.Text);
        Assert.Equal(6, result.Consumed);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void AnEmptyMessageIsJustTheEndMarker(FeedMode mode)
    {
        var result = Decode(".\r\nQUIT\r\n", mode);

        Assert.True(result.IsDone);
        Assert.Empty(result.Content);
        Assert.Equal(3, result.Consumed);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void BytesAfterTheEndMarkerAreLeftForTheCommandParser(FeedMode mode)
    {
        const string Data = "Hello\r\n.\r\n";
        var input = Bytes(Data + "MAIL FROM:<next@example.com>\r\nRCPT TO:<x@example.com>\r\n");

        var result = Decode(input, mode);

        Assert.True(result.IsDone);
        Assert.Equal("Hello\r\n", result.Text);
        Assert.Equal(Data.Length, result.Consumed);
    }

    [Fact]
    public void TheConsumedCountIsRelativeToThePieceThatHoldsTheEnd()
    {
        var decoder = new DataDecoder(BareLineEndingPolicy.Reject, TextLineLimit);
        using var output = new MessageBuffer(64 * 1024, long.MaxValue, null);

        Assert.Equal(6, decoder.Decode("Hello\r"u8, output));
        Assert.Equal(3, decoder.Decode("\n.\r\nQUIT\r\n"u8[..3], output));
        Assert.False(decoder.IsDone);
        Assert.Equal(1, decoder.Decode("\nQUIT\r\n"u8, output));
        Assert.True(decoder.IsDone);
        Assert.Equal(0, decoder.Decode("QUIT\r\n"u8, output));
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void NoIncompletePrefixEndsTheData(FeedMode mode)
    {
        var input = Bytes("a\r\n..b\r\n.c\r\n\r\n.\r\n");

        for (var length = 0; length < input.Length; length++)
        {
            var result = Decode(input[..length], mode);

            Assert.False(result.IsDone);
            Assert.Equal(length, result.Consumed);
        }

        Assert.Equal("a\r\n.b\r\nc\r\n\r\n", Decode(input, mode).Text);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void ADotLineNotPrecededByCrLfIsContent(FeedMode mode)
    {
        // The dot is in the middle of a line: "a.\r\n" and then ".\r\n" ends.
        var result = Decode("a.\r\nb .\r\n.\r\n", mode);

        Assert.Equal("a.\r\nb .\r\n", result.Text);
    }

    // ---- SMTP smuggling (2023): only CRLF.CRLF ends the data ----

    /// <summary>Each fake end marker, and whether it holds a bare CR or LF (the NUL one does not).</summary>
    private static readonly (string Marker, bool Bare)[] FakeEndMarkers =
    [
        ("\n.\n", true),
        ("\n.\r\n", true),
        ("\r\n.\n", true),
        ("\r.\r", true),
        ("\r\n.\r", true),
        ("\r.\r\n", true),
        ("\r\n.\r\r\n", true),
        ("\r\n\0.\r\n", false),
    ];

    public static TheoryData<string, bool, FeedMode> FakeEndMarkersFedThreeWays
    {
        get
        {
            var data = new TheoryData<string, bool, FeedMode>();
            foreach (var (marker, bare) in FakeEndMarkers)
            {
                foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
                {
                    data.Add(marker, bare, mode);
                }
            }

            return data;
        }
    }

    private static string SmuggledInput(string marker) =>
        "Subject: hi\r\n\r\nA" + marker + "MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nB\r\n.\r\n";

    [Theory]
    [MemberData(nameof(FakeEndMarkersFedThreeWays))]
    public void AFakeEndMarkerWithABareLineEndingStopsTheDecoderAtTheMarkerUnderEitherPolicy(string marker, bool bare, FeedMode mode)
    {
        var input = SmuggledInput(marker);
        foreach (var policy in new[] { BareLineEndingPolicy.Reject, BareLineEndingPolicy.Normalize })
        {
            var result = Decode(input + "QUIT\r\n", mode, policy);

            Assert.True(result.IsDone);
            Assert.Equal(bare, result.SawBareLineEnding);
            Assert.Equal(bare, result.StoppedAtBareEndMarker);
            Assert.StartsWith("Subject: hi\r\n\r\nA", result.Text, StringComparison.Ordinal);
            if (bare)
            {
                // Nothing after the lone dot is read: the session answers 421 and closes, so the smuggled
                // transaction is neither content nor commands. A trailing bare CR is known bare only by the octet
                // after it, which stays unread.
                var markerEnd = input.IndexOf(marker, StringComparison.Ordinal) + marker.Length;
                Assert.Equal(marker.EndsWith("\r\r\n", StringComparison.Ordinal) ? markerEnd - 2 : markerEnd, result.Consumed);
                Assert.DoesNotContain("MAIL FROM", result.Text, StringComparison.Ordinal);
            }
            else
            {
                // The one marker without a bare ending ("\r\n\0.\r\n") is ordinary content up to the real end.
                Assert.Equal(input.Length, result.Consumed);
                Assert.EndsWith("MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nB\r\n", result.Text, StringComparison.Ordinal);
            }
        }
    }

    [Theory]
    [InlineData("Hello\n.\n")]
    [InlineData("Hello\r\n.\n")]
    [InlineData("Hello\n.\r\n")]
    [InlineData(".\n")]
    public void ALoneDotWithABareLfThatEndsWhatTheClientSentStopsTheDecoderWithoutWaitingForMore(string input)
    {
        // What a client that ends lines with LF sends as its end of data (netcat, a hand-written script): read as
        // content, the client would wait for a reply until the data timeout.
        foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
        {
            foreach (var policy in new[] { BareLineEndingPolicy.Reject, BareLineEndingPolicy.Normalize })
            {
                var result = Decode(input, mode, policy);

                Assert.True(result.StoppedAtBareEndMarker);
                Assert.Equal(input.Length, result.Consumed);
            }
        }
    }

    [Theory]
    [InlineData("A\n..x\r\n", "A\r\n.x\r\n")]
    [InlineData("A\n..\nB\r\n", "A\r\n.\r\nB\r\n")]
    [InlineData("A\r..\r\n", "A\r\n.\r\n")]
    [InlineData("A\n...\r\n", "A\r\n..\r\n")]
    [InlineData("A\nx.\r\n", "A\r\nx.\r\n")]
    public void NormalizeUnstuffsALineThatABareLineEndingStarts(string content, string expected)
    {
        // Postfix's normalize handles a bare-LF line "as if the client sent the standard CRLF": Python's smtplib
        // stuffs the lines of a bytes message after each LF, and the dots it doubled are undoubled here.
        foreach (var mode in new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte })
        {
            var result = Decode(content + ".\r\n", mode, BareLineEndingPolicy.Normalize);

            Assert.True(result.IsDone);
            Assert.False(result.StoppedAtBareEndMarker);
            Assert.Equal(expected, result.Text);
        }
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void RejectKeepsBareEndingsAsTheyCame(FeedMode mode)
    {
        var result = Decode("A\rB\nC\r\r\nD\r\n.\r\n", mode, BareLineEndingPolicy.Reject);

        Assert.True(result.SawBareLineEnding);
        Assert.Equal("A\rB\nC\r\r\nD\r\n", result.Text);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void NormalizeTurnsBareCrAndBareLfIntoCrLf(FeedMode mode)
    {
        var result = Decode("A\rB\nC\r\r\nD\n\nE\r\n.\r\n", mode, BareLineEndingPolicy.Normalize);

        Assert.True(result.SawBareLineEnding);
        Assert.Equal("A\r\nB\r\nC\r\n\r\nD\r\n\r\nE\r\n", result.Text);
        AssertOnlyCrLfLineEndings(result.Content);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void TheBytesPythonSmtplibSendsForABytesMessageWithLfLineEndsNormalizeToTheOriginalWithCrLf(FeedMode mode)
    {
        // smtplib.sendmail(..., EmailMessage().as_bytes()): lines end with LF, leading dots doubled, and
        // "\r\n.\r\n" appended after the message's own final LF.
        var result = Decode("Subject: hi\n\n..dot\nbody\n\r\n.\r\n", mode, BareLineEndingPolicy.Normalize);

        Assert.True(result.IsDone);
        Assert.False(result.StoppedAtBareEndMarker);
        Assert.Equal("Subject: hi\r\n\r\n.dot\r\nbody\r\n\r\n", result.Text);
    }

    private static void AssertOnlyCrLfLineEndings(byte[] content)
    {
        for (var i = 0; i < content.Length; i++)
        {
            if (content[i] == '\r')
            {
                Assert.True(i + 1 < content.Length && content[i + 1] == '\n', $"Bare CR at {i}");
            }
            else if (content[i] == '\n')
            {
                Assert.True(i > 0 && content[i - 1] == '\r', $"Bare LF at {i}");
            }
        }
    }

    // ---- Text line length (RFC 5321 4.5.3.1.6) ----

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void ALineOf1000OctetsIncludingCrLfIsNotLong(FeedMode mode)
    {
        var line = new string('x', TextLineLimit - 2) + "\r\n";

        var result = Decode("short\r\n" + line + line + ".\r\n", mode);

        Assert.False(result.SawLongLine);
        Assert.Equal("short\r\n" + line + line, result.Text);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void ALineOf1001OctetsIncludingCrLfIsLong(FeedMode mode)
    {
        var line = new string('x', TextLineLimit - 1) + "\r\n";

        var result = Decode("short\r\n" + line + "short\r\n.\r\n", mode);

        Assert.True(result.SawLongLine);
        Assert.True(result.IsDone);
        Assert.Equal("short\r\n" + line + "short\r\n", result.Text);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void TheStuffedDotDoesNotCountTowardsTheLineLength(FeedMode mode)
    {
        // RFC 5321 4.5.3.1.6: "not counting the leading dot duplicated for transparency".
        var stuffed = "." + new string('.', TextLineLimit - 2) + "\r\n";

        Assert.False(Decode(stuffed + ".\r\n", mode).SawLongLine);
        Assert.True(Decode("." + stuffed + ".\r\n", mode).SawLongLine);
    }

    // ---- Reuse ----

    [Fact]
    public void ResetMakesTheDecoderReadyForTheNextMessage()
    {
        var decoder = new DataDecoder(BareLineEndingPolicy.Reject, TextLineLimit);
        using (var first = new MessageBuffer(64 * 1024, long.MaxValue, null))
        {
            var result = Decode(decoder, first, Bytes("a\nb" + new string('x', 2000) + "\r\n.\r\n"), FeedMode.Whole);
            Assert.True(result.IsDone);
            Assert.True(result.SawBareLineEnding);
            Assert.True(result.SawLongLine);
        }

        decoder.Reset();
        Assert.Equal(DataDecoderState.LineStart, decoder.State);

        using var second = new MessageBuffer(64 * 1024, long.MaxValue, null);
        var next = Decode(decoder, second, Bytes("..second\r\n.\r\n"), FeedMode.ByteByByte);
        Assert.True(next.IsDone);
        Assert.False(next.SawBareLineEnding);
        Assert.False(next.SawLongLine);
        Assert.Equal(".second\r\n", next.Text);
    }
}
