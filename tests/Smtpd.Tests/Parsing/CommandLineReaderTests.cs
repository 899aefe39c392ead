using System.Buffers;
using System.Text;
using Smtpd.Parsing;

namespace Smtpd.Tests.Parsing;

/// <summary>
/// <see cref="CommandLineReader"/>: lines split out of a <see cref="ReadOnlySequence{T}"/>. Every input is fed
/// three ways (<see cref="FeedMode"/>), so segment boundaries fall everywhere a socket could put them.
/// </summary>
public sealed class CommandLineReaderTests
{
    private const int Limit = 512;

    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    private static string Text(in ReadOnlySequence<byte> line) => Encoding.Latin1.GetString(line.ToArray());

    /// <summary>Reads lines until the reader says something other than <see cref="LineReadStatus.Line"/>.</summary>
    private static (List<string> Lines, LineReadStatus Final, long Consumed) ReadAll(ReadOnlySequence<byte> input, int maxLength = Limit)
    {
        var reader = new SequenceReader<byte>(input);
        var lines = new List<string>();
        while (true)
        {
            var status = CommandLineReader.TryReadLine(ref reader, maxLength, out var line);
            if (status != LineReadStatus.Line)
            {
                return (lines, status, reader.Consumed);
            }

            lines.Add(Text(line));
        }
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void EachLineIsReturnedWithoutItsLineFeedButWithItsCarriageReturn(FeedMode mode)
    {
        var input = Bytes("EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n");

        var (lines, final, consumed) = ReadAll(Feed.AsSequence(input, mode));

        Assert.Equal(["EHLO client.example\r", "MAIL FROM:<a@example.com>\r", "QUIT\r"], lines);
        Assert.Equal(LineReadStatus.NeedMoreData, final);
        Assert.Equal(input.Length, consumed);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void ABareLineFeedEndsALineAndEmptyLinesAreLines(FeedMode mode)
    {
        var input = Bytes("NOOP\n\r\n\nQUIT\r\n");

        var (lines, final, consumed) = ReadAll(Feed.AsSequence(input, mode));

        Assert.Equal(["NOOP", "\r", "", "QUIT\r"], lines);
        Assert.Equal(LineReadStatus.NeedMoreData, final);
        Assert.Equal(input.Length, consumed);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void ALineOfExactly512OctetsIncludingCrLfIsRead(FeedMode mode)
    {
        var body = "NOOP " + new string('a', Limit - 2 - 5);
        var input = Bytes(body + "\r\nQUIT\r\n");
        Assert.Equal(Limit, body.Length + 2);

        var (lines, final, consumed) = ReadAll(Feed.AsSequence(input, mode));

        Assert.Equal([body + "\r", "QUIT\r"], lines);
        Assert.Equal(LineReadStatus.NeedMoreData, final);
        Assert.Equal(input.Length, consumed);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void ALineOf513OctetsIncludingCrLfIsTooLongAndNothingIsConsumed(FeedMode mode)
    {
        var input = Bytes("NOOP " + new string('a', Limit - 2 - 5 + 1) + "\r\nQUIT\r\n");

        var (lines, final, consumed) = ReadAll(Feed.AsSequence(input, mode));

        Assert.Empty(lines);
        Assert.Equal(LineReadStatus.TooLong, final);
        Assert.Equal(0, consumed);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void ALineWhoseCrIsTheLimitOctetIsTooLongOnceTheLimitIsBuffered(FeedMode mode)
    {
        // 511 octets and a CR, no LF yet: the LF would be octet 513.
        var input = Bytes(new string('a', Limit - 1) + "\r");

        Assert.Equal(LineReadStatus.TooLong, ReadAll(Feed.AsSequence(input, mode)).Final);
        Assert.Equal(LineReadStatus.NeedMoreData, ReadAll(Feed.AsSequence(input[..^1], mode)).Final);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void TheLimitIsAParameter(FeedMode mode)
    {
        Assert.Equal(["1234567\r"], ReadAll(Feed.AsSequence(Bytes("1234567\r\n"), mode), maxLength: 9).Lines);
        Assert.Equal(LineReadStatus.TooLong, ReadAll(Feed.AsSequence(Bytes("12345678\r\n"), mode), maxLength: 9).Final);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void NeedMoreDataLeavesTheReaderUnadvancedForEveryIncompletePrefix(FeedMode mode)
    {
        const string First = "NOOP\r\n";
        var input = Bytes(First + "MAIL FROM:<a@example.com> SIZE=100\r\n");

        for (var length = 0; length < input.Length; length++)
        {
            var sequence = Feed.AsSequence(input[..length], mode);
            var reader = new SequenceReader<byte>(sequence);
            if (length >= First.Length)
            {
                Assert.Equal(LineReadStatus.Line, CommandLineReader.TryReadLine(ref reader, Limit, out var line));
                Assert.Equal("NOOP\r", Text(line));
            }

            var consumedBefore = reader.Consumed;
            var status = CommandLineReader.TryReadLine(ref reader, Limit, out _);

            Assert.Equal(LineReadStatus.NeedMoreData, status);
            Assert.Equal(consumedBefore, reader.Consumed);
            Assert.Equal(length >= First.Length ? First.Length : 0, reader.Consumed);
        }
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void AfterTooLongSkipPastLineFeedDiscardsTheLineAndTheNextLineIsRead(FeedMode mode)
    {
        var longLine = new string('x', 600) + "\r\n";
        var input = Bytes(longLine + "QUIT\r\n");
        var reader = new SequenceReader<byte>(Feed.AsSequence(input, mode));

        Assert.Equal(LineReadStatus.TooLong, CommandLineReader.TryReadLine(ref reader, Limit, out _));
        Assert.True(CommandLineReader.SkipPastLineFeed(ref reader));
        Assert.Equal(longLine.Length, reader.Consumed);
        Assert.Equal(LineReadStatus.Line, CommandLineReader.TryReadLine(ref reader, Limit, out var line));
        Assert.Equal("QUIT\r", Text(line));
        Assert.True(reader.End);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void SkipPastLineFeedConsumesEverythingAndReportsFalseWhenThereIsNoLineFeed(FeedMode mode)
    {
        var input = Bytes(new string('x', 700) + "\r");
        var reader = new SequenceReader<byte>(Feed.AsSequence(input, mode));

        Assert.False(CommandLineReader.SkipPastLineFeed(ref reader));
        Assert.True(reader.End);
        Assert.Equal(input.Length, reader.Consumed);
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void SkipPastLineFeedStopsRightAfterTheFirstLineFeed(FeedMode mode)
    {
        var input = Bytes("\nNOOP\n");
        var reader = new SequenceReader<byte>(Feed.AsSequence(input, mode));

        Assert.True(CommandLineReader.SkipPastLineFeed(ref reader));
        Assert.Equal(1, reader.Consumed);
        Assert.True(CommandLineReader.SkipPastLineFeed(ref reader));
        Assert.Equal(input.Length, reader.Consumed);
        Assert.False(CommandLineReader.SkipPastLineFeed(ref reader));
    }

    [Fact]
    public void SkippingALongLineCanSpanSeveralReads()
    {
        // The session's pattern: the rest of an over-long line arrives in several reads.
        var first = new SequenceReader<byte>(new ReadOnlySequence<byte>(Bytes(new string('x', 1000))));
        Assert.False(CommandLineReader.SkipPastLineFeed(ref first));

        var second = new SequenceReader<byte>(new ReadOnlySequence<byte>(Bytes("yyy\r\nQUIT\r\n")));
        Assert.True(CommandLineReader.SkipPastLineFeed(ref second));
        Assert.Equal(5, second.Consumed);
        Assert.Equal(LineReadStatus.Line, CommandLineReader.TryReadLine(ref second, Limit, out var line));
        Assert.Equal("QUIT\r", Text(line));
    }

    [Theory]
    [MemberData(nameof(Feed.Modes), MemberType = typeof(Feed))]
    public void AMegabyteWithoutLineFeedIsTooLongAtOnce(FeedMode mode)
    {
        var input = new byte[1024 * 1024];
        input.AsSpan().Fill((byte)'a');
        var reader = new SequenceReader<byte>(Feed.AsSequence(input, mode));

        Assert.Equal(LineReadStatus.TooLong, CommandLineReader.TryReadLine(ref reader, Limit, out _));
        Assert.Equal(0, reader.Consumed);
    }

    [Fact]
    public void TheSearchNeverLooksAtOctetsBeyondMaxLength()
    {
        // 600 readable octets in 100-octet segments, then a megabyte that throws if anything reads it; it even
        // holds a LF, which must not be found because it is far past the limit.
        var sequence = PoisonedAfter(600, 1024 * 1024);
        var reader = new SequenceReader<byte>(sequence);

        Assert.Equal(LineReadStatus.TooLong, CommandLineReader.TryReadLine(ref reader, Limit, out _));
        Assert.Equal(0, reader.Consumed);
    }

    [Fact]
    public void ALineFeedWithinTheLimitIsFoundWithoutLookingFurther()
    {
        var readable = new byte[600];
        readable.AsSpan().Fill((byte)'a');
        readable[Limit - 1] = (byte)'\n';
        var reader = new SequenceReader<byte>(PoisonedAfter(readable, 1024 * 1024));

        Assert.Equal(LineReadStatus.Line, CommandLineReader.TryReadLine(ref reader, Limit, out var line));
        Assert.Equal(Limit - 1, line.Length);
        Assert.Equal(Limit, reader.Consumed);
    }

    [Fact]
    public void ThePoisonedSegmentDoesCatchAReaderThatLooksIntoIt()
    {
        // The control for the two tests above: with only 200 readable octets the limit reaches into the poison.
        var sequence = PoisonedAfter(200, 1024 * 1024);

        Assert.Throws<InvalidOperationException>(() =>
        {
            var reader = new SequenceReader<byte>(sequence);
            CommandLineReader.TryReadLine(ref reader, Limit, out _);
        });
    }

    private static ReadOnlySequence<byte> PoisonedAfter(int readableLength, int poisonedLength)
    {
        var readable = new byte[readableLength];
        readable.AsSpan().Fill((byte)'a');
        return PoisonedAfter(readable, poisonedLength);
    }

    private static ReadOnlySequence<byte> PoisonedAfter(byte[] readable, int poisonedLength)
    {
        var first = new Chain(readable.AsMemory(0, Math.Min(100, readable.Length)), 0);
        var last = first;
        for (var start = 100; start < readable.Length; start += 100)
        {
            last = last.Append(readable.AsMemory(start, Math.Min(100, readable.Length - start)));
        }

        last = last.Append(new PoisonedMemory().Create(poisonedLength));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Chain : ReadOnlySequenceSegment<byte>
    {
        public Chain(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Chain Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Chain(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    /// <summary>Memory whose octets throw when anything looks at them (its length can be read freely).</summary>
    private sealed class PoisonedMemory : MemoryManager<byte>
    {
        public Memory<byte> Create(int length) => CreateMemory(length);

        public override Span<byte> GetSpan() => throw new InvalidOperationException("The reader looked past its limit.");

        public override MemoryHandle Pin(int elementIndex = 0) => throw new InvalidOperationException("The reader looked past its limit.");

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
