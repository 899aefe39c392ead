using System.Buffers;
using Smtpd.Parsing;

namespace Smtpd.Catcher.Pop3;

/// <summary>
/// Splits the input into command lines and hands them to the <see cref="Pop3Session"/>, without I/O: the line search
/// never looks past <see cref="Pop3Options.MaxLineLength"/> (Kestrel's <c>TakeStartLine</c> habit), a longer line is
/// answered once and discarded up to its LF, and a line split across segments is copied once to a stack buffer.
/// The connection calls it with each read's buffer; a test calls it with input fed whole, line by line or byte by byte.
/// </summary>
/// <param name="session">The session the lines go to.</param>
/// <param name="maxLineLength">The longest line, CRLF included.</param>
internal sealed class Pop3Protocol(Pop3Session session, int maxLineLength)
{
    private const int StackLineLimit = 1024;

    // A line went over the limit: its remainder is discarded up to the next LF, across reads.
    private bool _skippingLongLine;

    /// <summary>The session.</summary>
    public Pop3Session Session => session;

    /// <summary>Takes one line from the buffer and runs it.</summary>
    /// <param name="buffer">The unconsumed input of the read.</param>
    /// <param name="consumed">Where the consumed input ends; moved past the line (and past discarded octets).</param>
    /// <param name="output">Where responses go.</param>
    /// <param name="step">What the connection does next, when a line was run.</param>
    /// <returns><see langword="false"/> when no whole line is left in the buffer.</returns>
    public bool TryProcessLine(ReadOnlySequence<byte> buffer, ref SequencePosition consumed, IBufferWriter<byte> output, out Pop3Step step)
    {
        step = Pop3Step.Continue;
        var reader = new SequenceReader<byte>(buffer.Slice(consumed));
        if (_skippingLongLine)
        {
            _skippingLongLine = !CommandLineReader.SkipPastLineFeed(ref reader);
            consumed = reader.Position;
            if (_skippingLongLine)
            {
                return false;
            }
        }

        switch (CommandLineReader.TryReadLine(ref reader, maxLineLength, out var line))
        {
            case LineReadStatus.Line:
                consumed = reader.Position;
                step = Process(line, output);
                return true;
            case LineReadStatus.TooLong:
                step = session.LineTooLong(output);
                _skippingLongLine = !CommandLineReader.SkipPastLineFeed(ref reader);
                consumed = reader.Position;
                return true;
            default:
                return false;
        }
    }

    private Pop3Step Process(ReadOnlySequence<byte> line, IBufferWriter<byte> output)
    {
        if (line.IsSingleSegment)
        {
            return session.Process(line.FirstSpan, output);
        }

        var length = (int)line.Length;
        byte[]? rented = null;
        var copy = length <= StackLineLimit ? stackalloc byte[StackLineLimit] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            line.CopyTo(copy);
            return session.Process(copy[..length], output);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
