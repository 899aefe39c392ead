using Smtpd.IO;

namespace Smtpd.Parsing;

/// <summary>Where the DATA decoder stands between two input octets.</summary>
internal enum DataDecoderState : byte
{
    /// <summary>At the start of a line: right after DATA's reply or after a CRLF.</summary>
    LineStart,

    /// <summary>Inside a line.</summary>
    InLine,

    /// <summary>Inside a line, just after a CR: a LF makes it a line end, anything else makes the CR bare.</summary>
    InLineCarriageReturn,

    /// <summary>A dot at the start of a line: either the end marker or a stuffed dot.</summary>
    LineStartDot,

    /// <summary>A dot and a CR at the start of a line: a LF now ends the data.</summary>
    LineStartDotCarriageReturn,

    /// <summary>The end of data was seen; the decoder consumes nothing more.</summary>
    Done,

    /// <summary>
    /// A line holding only a dot with a bare CR or LF on either side: the client either thinks the data has ended
    /// (and waits for a reply) or is smuggling (and more follows). The decoder consumes nothing more; the session
    /// refuses the message and closes, since no later octet can be trusted to be a command or content.
    /// </summary>
    BareEndMarker,
}

/// <summary>
/// Decodes DATA content (RFC 5321 4.1.1.4 and 4.5.2): removes dot-stuffing and finds the end of data, which is
/// <b>only</b> <c>CRLF . CRLF</c>. No other mix of bare CR and LF around a dot is a successful end of data: that is
/// the 2023 SMTP smuggling class (see aiosmtpd's <c>test_smtpsmuggling.py</c>). Such a mix, a lone dot next to a bare
/// ending, stops the decoder in <see cref="DataDecoderState.BareEndMarker"/>: read as content, a client that meant
/// it as the end would wait for a reply until the data timeout, and read as the end, the octets after it could be a
/// smuggled transaction. The decoder does no I/O; it is fed whatever octets arrive, in pieces of any size, and
/// writes the content to a <see cref="MessageBuffer"/>.
/// </summary>
internal sealed class DataDecoder
{
    private static ReadOnlySpan<byte> CrLf => "\r\n"u8;

    private readonly BareLineEndingPolicy _policy;
    private readonly int _maxLineLength;
    private int _lineLength;

    // Whether the line now starting follows a bare CR or LF, so that a lone dot on it is a bare end marker.
    private bool _lineStartFollowsBareEnding;

    public DataDecoder(BareLineEndingPolicy policy, int maxLineLength)
    {
        _policy = policy;
        _maxLineLength = maxLineLength;
    }

    public DataDecoderState State { get; private set; }

    /// <summary>Whether the decoder has stopped: at the end of data, or at a bare end marker.</summary>
    public bool IsDone => State is DataDecoderState.Done or DataDecoderState.BareEndMarker;

    /// <summary>
    /// Whether the data stopped at a lone dot next to a bare CR or LF (<see cref="DataDecoderState.BareEndMarker"/>)
    /// rather than at <c>CRLF . CRLF</c>.
    /// </summary>
    public bool StoppedAtBareEndMarker => State == DataDecoderState.BareEndMarker;

    /// <summary>Whether a bare CR or LF appeared in the content.</summary>
    public bool SawBareLineEnding { get; private set; }

    /// <summary>Whether a line was longer than the text line limit (RFC 5321 4.5.3.1.6).</summary>
    public bool SawLongLine { get; private set; }

    /// <summary>Makes the decoder ready for a new message.</summary>
    public void Reset()
    {
        State = DataDecoderState.LineStart;
        SawBareLineEnding = false;
        SawLongLine = false;
        _lineLength = 0;
        _lineStartFollowsBareEnding = false;
    }

    /// <summary>Decodes <paramref name="input"/> into <paramref name="output"/>.</summary>
    /// <returns>How many octets were consumed: all of them, unless the end of data came first, in which case the octets after it are left for the command parser.</returns>
    public int Decode(ReadOnlySpan<byte> input, MessageBuffer output)
    {
        var i = 0;
        while (i < input.Length)
        {
            switch (State)
            {
                case DataDecoderState.LineStart:
                    if (input[i] == (byte)'.')
                    {
                        State = DataDecoderState.LineStartDot;
                        i++;
                    }
                    else
                    {
                        State = DataDecoderState.InLine;
                    }

                    break;

                case DataDecoderState.InLine:
                {
                    // The common case: copy the run up to the next CR or LF in one piece.
                    var run = input[i..];
                    var end = run.IndexOfAny((byte)'\r', (byte)'\n');
                    if (end < 0)
                    {
                        Emit(run, output);
                        return input.Length;
                    }

                    Emit(run[..end], output);
                    i += end;
                    if (input[i] == (byte)'\r')
                    {
                        State = DataDecoderState.InLineCarriageReturn;
                    }
                    else
                    {
                        BareLineEnding((byte)'\n', output);
                    }

                    i++;
                    break;
                }

                case DataDecoderState.InLineCarriageReturn:
                    if (input[i] == (byte)'\n')
                    {
                        EndLine(output);
                        State = DataDecoderState.LineStart;
                        _lineStartFollowsBareEnding = false;
                        i++;
                    }
                    else
                    {
                        // The CR had no LF: it is bare. The current octet is looked at again, at a line start.
                        BareLineEnding((byte)'\r', output);
                    }

                    break;

                case DataDecoderState.LineStartDot:
                    if (input[i] == (byte)'\r')
                    {
                        State = DataDecoderState.LineStartDotCarriageReturn;
                        i++;
                    }
                    else if (input[i] == (byte)'\n')
                    {
                        // "." and a bare LF: what a client that ends lines with LF sends as its end of data, and what
                        // a smuggler sends to fake one. Neither reading is safe to act on.
                        SawBareLineEnding = true;
                        State = DataDecoderState.BareEndMarker;
                        return i + 1;
                    }
                    else
                    {
                        // RFC 5321 4.5.2: a leading dot followed by more text is a stuffed dot: drop it.
                        State = DataDecoderState.InLine;
                    }

                    break;

                case DataDecoderState.LineStartDotCarriageReturn:
                    if (input[i] == (byte)'\n' && !_lineStartFollowsBareEnding)
                    {
                        // CRLF . CRLF: the only end of data.
                        State = DataDecoderState.Done;
                        return i + 1;
                    }

                    // A bare ending before the dot (LF . CRLF), or "." CR followed by anything but LF (a bare CR after
                    // it): a lone dot next to a bare ending, as above.
                    SawBareLineEnding = true;
                    State = DataDecoderState.BareEndMarker;
                    return input[i] == (byte)'\n' ? i + 1 : i;

                default:
                    return i;
            }
        }

        return input.Length;
    }

    private void Emit(ReadOnlySpan<byte> content, MessageBuffer output)
    {
        _lineLength += content.Length;
        if (_lineLength + CrLf.Length > _maxLineLength)
        {
            SawLongLine = true;
        }

        output.Write(content);
    }

    private void EndLine(MessageBuffer output)
    {
        output.Write(CrLf);
        _lineLength = 0;
    }

    /// <summary>
    /// A bare CR or LF ends the line under both policies, as Postfix's <c>smtpd_forbid_bare_newline = normalize</c>
    /// processes such lines "as if the client sent the standard CRLF": the next line is unstuffed (a client that
    /// ends lines with LF still stuffs them, as Python's smtplib does), and a lone dot on it is a bare end marker.
    /// </summary>
    private void BareLineEnding(byte octet, MessageBuffer output)
    {
        SawBareLineEnding = true;
        if (_policy == BareLineEndingPolicy.Normalize)
        {
            EndLine(output);
        }
        else
        {
            // The message will be rejected; keep the octet so the count stays exact.
            Emit([octet], output);
        }

        State = DataDecoderState.LineStart;
        _lineStartFollowsBareEnding = true;
    }
}
