using System.Buffers;

namespace Smtpd.Catcher.Pop3;

/// <summary>
/// Turns a stored message into the body of a RETR or TOP response, one chunk at a time, without I/O: every line
/// that starts with '.' gets one more (RFC 1939 section 3, byte-stuffing), the response ends in <c>CRLF.CRLF</c>, and
/// for TOP only the headers, the blank line and the first n body lines are sent (RFC 1939 section 7). The stored
/// octets are sent as they are otherwise, so the octet count that LIST reports is exact.
/// </summary>
internal sealed class Pop3MessageEncoder
{
    private const byte LineFeed = (byte)'\n';
    private const byte CarriageReturn = (byte)'\r';

    private readonly int _bodyLines;
    private bool _atLineStart = true;
    private bool _inHeaders = true;
    private int _bodyLinesSent;

    // The current line's length so far and whether it began with CR: a line of just CRLF (or LF) ends the headers.
    private long _lineLength;
    private bool _lineStartsWithCr;

    /// <summary>Creates an encoder.</summary>
    /// <param name="bodyLines">TOP's count of body lines, or -1 to send the whole message (RETR).</param>
    public Pop3MessageEncoder(int bodyLines) => _bodyLines = bodyLines;

    /// <summary>Whether TOP's lines have all been written; the rest of the content is not needed.</summary>
    public bool IsDone { get; private set; }

    /// <summary>Encodes the next chunk of content.</summary>
    /// <param name="content">The chunk.</param>
    /// <param name="output">Where the encoded octets go.</param>
    public void Write(ReadOnlySpan<byte> content, IBufferWriter<byte> output)
    {
        while (!content.IsEmpty && !IsDone)
        {
            if (_atLineStart)
            {
                if (content[0] == (byte)'.')
                {
                    output.Write("."u8);
                }

                _atLineStart = false;
                _lineStartsWithCr = content[0] == CarriageReturn;
                _lineLength = 0;
            }

            var lineFeed = content.IndexOf(LineFeed);
            var part = lineFeed < 0 ? content : content[..(lineFeed + 1)];
            output.Write(part);
            _lineLength += part.Length;
            content = content[part.Length..];
            if (lineFeed >= 0)
            {
                EndLine();
            }
        }
    }

    /// <summary>Writes the end of the response: a line end if the content lacked a final one, then <c>.CRLF</c>.</summary>
    /// <param name="output">Where the octets go.</param>
    public void Complete(IBufferWriter<byte> output)
    {
        if (!_atLineStart)
        {
            output.Write(Pop3Replies.CrLf);
        }

        output.Write(Pop3Replies.EndOfMultiLine);
    }

    private void EndLine()
    {
        _atLineStart = true;
        if (_bodyLines < 0)
        {
            return;
        }

        if (_inHeaders)
        {
            var blank = _lineLength == 1 || (_lineLength == 2 && _lineStartsWithCr);
            if (blank)
            {
                _inHeaders = false;
                IsDone = _bodyLines == 0;
            }
        }
        else if (++_bodyLinesSent >= _bodyLines)
        {
            IsDone = true;
        }
    }
}
