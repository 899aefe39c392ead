namespace Smtpd.Tests.Support;

/// <summary>The three ways every parser test feeds its input (docs/contributing.md; MailKit's SmtpResponseMode.Char).</summary>
public enum FeedMode
{
    /// <summary>All the input in one piece.</summary>
    Whole,

    /// <summary>One piece per line, each ending after its LF.</summary>
    LineByLine,

    /// <summary>One octet at a time.</summary>
    ByteByByte,
}

public static class Feed
{
    public static TheoryData<FeedMode> Modes => new(FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte);

    /// <summary>Splits the input into the pieces the mode calls for.</summary>
    public static IEnumerable<byte[]> Split(byte[] input, FeedMode mode)
    {
        switch (mode)
        {
            case FeedMode.Whole:
                yield return input;
                break;
            case FeedMode.LineByLine:
                var start = 0;
                for (var i = 0; i < input.Length; i++)
                {
                    if (input[i] == (byte)'\n')
                    {
                        yield return input[start..(i + 1)];
                        start = i + 1;
                    }
                }

                if (start < input.Length)
                {
                    yield return input[start..];
                }

                break;
            default:
                foreach (var b in input)
                {
                    yield return [b];
                }

                break;
        }
    }

    /// <summary>
    /// Builds a multi-segment <see cref="System.Buffers.ReadOnlySequence{T}"/> from the pieces, so parsers that take
    /// sequences see segment boundaries exactly where the mode puts them.
    /// </summary>
    public static System.Buffers.ReadOnlySequence<byte> AsSequence(byte[] input, FeedMode mode)
    {
        var pieces = Split(input, mode).ToList();
        if (pieces.Count == 0)
        {
            return System.Buffers.ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(pieces[0], 0);
        var last = first;
        foreach (var piece in pieces.Skip(1))
        {
            last = last.Append(piece);
        }

        return new System.Buffers.ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : System.Buffers.ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
