using System.Buffers;

namespace Smtpd.Parsing;

/// <summary>The outcome of <see cref="CommandLineReader.TryReadLine"/>.</summary>
internal enum LineReadStatus
{
    /// <summary>A whole line was read and consumed.</summary>
    Line,

    /// <summary>No line end yet, and the unread bytes are still within the limit: read more.</summary>
    NeedMoreData,

    /// <summary>The limit was reached with no line end: the caller must discard up to the next LF.</summary>
    TooLong,
}

/// <summary>
/// Splits command lines out of the input without ever looking past the line limit, so a client that never
/// sends LF cannot make the server buffer more than one limit's worth (Kestrel's <c>TakeStartLine</c> does the same).
/// </summary>
internal static class CommandLineReader
{
    private const byte LineFeed = (byte)'\n';

    /// <summary>
    /// Reads one line ending in LF. The returned line excludes the LF but keeps any CR before it, so the
    /// parser can tell CRLF from a bare LF.
    /// </summary>
    /// <param name="reader">The input; advanced past the LF when a line is read, untouched otherwise.</param>
    /// <param name="maxLength">The longest line, in octets including the line end (RFC 5321 4.5.3.1.4).</param>
    /// <param name="line">The line, when the status is <see cref="LineReadStatus.Line"/>.</param>
    /// <returns>Whether a line was read, more data is needed, or the line is over the limit.</returns>
    public static LineReadStatus TryReadLine(ref SequenceReader<byte> reader, int maxLength, out ReadOnlySequence<byte> line)
    {
        // Slice to the limit before searching: the search never looks at more than maxLength bytes.
        var unread = reader.UnreadSequence;
        var window = unread.Length > maxLength ? unread.Slice(0, maxLength) : unread;

        if (window.IsSingleSegment)
        {
            var index = window.FirstSpan.IndexOf(LineFeed);
            if (index >= 0)
            {
                line = window.Slice(0, index);
                reader.Advance(index + 1);
                return LineReadStatus.Line;
            }
        }
        else if (window.PositionOf(LineFeed) is { } position)
        {
            line = window.Slice(0, position);
            reader.Advance(line.Length + 1);
            return LineReadStatus.Line;
        }

        line = default;
        return window.Length >= maxLength ? LineReadStatus.TooLong : LineReadStatus.NeedMoreData;
    }

    /// <summary>
    /// Discards input up to and including the next LF, after a line went over the limit.
    /// </summary>
    /// <param name="reader">The input; advanced past what was discarded.</param>
    /// <returns><see langword="true"/> when the LF was found (the discarded line is over); <see langword="false"/> when all input was discarded and more must be skipped.</returns>
    public static bool SkipPastLineFeed(ref SequenceReader<byte> reader)
    {
        if (reader.TryAdvanceTo(LineFeed, advancePastDelimiter: true))
        {
            return true;
        }

        reader.AdvanceToEnd();
        return false;
    }
}
