using System.Text;

namespace Smtpd.Fuzz;

/// <summary>
/// The DATA and BDAT content readers. DATA: <c>DataDecoder</c> is fed the input in pieces and compared, octet for
/// octet, with a deliberately naive reference written from RFC 5321 4.5.2 and docs/protocol.md (end only at the
/// first CRLF.CRLF, unstuff a leading dot followed by anything but CR or LF, bare CR/LF flagged, or turned into CRLF
/// under Normalize, line lengths counted). BDAT: the same octets written to a <c>MessageBuffer</c> in pieces, past its
/// memory threshold and its maximum length, read back exactly.
/// </summary>
internal static class ContentTarget
{
    private static readonly byte[] End = "\r\n.\r\n"u8.ToArray();

    public static void Run(byte[] input)
    {
        if (input.Length < 3)
        {
            return;
        }

        var policy = (input[0] & 1) == 0 ? BareLineEndingPolicy.Reject : BareLineEndingPolicy.Normalize;
        var piece = 1 + input[1];
        var maxLine = 3 + (input[2] & 0x3f);
        var body = input[3..];
        CheckData(body, policy, piece, maxLine);
        CheckChunks(body, piece, maxLength: (input[2] * 64) + (input[0] >> 1));
    }

    private static void CheckData(byte[] body, BareLineEndingPolicy policy, int piece, int maxLine)
    {
        // The body as given must never end the data on its own unless it holds the end marker; with one appended it always ends.
        var wire = body.Concat(End).ToArray();
        var decoder = Internals.NewDataDecoder(policy, maxLine);
        var output = Internals.NewMessageBuffer(1024, long.MaxValue, null);
        try
        {
            long consumed = 0;
            for (var offset = 0; offset < wire.Length; offset += piece)
            {
                var chunk = wire.AsSpan(offset, Math.Min(piece, wire.Length - offset));
                var wasDone = Internals.IsDone(decoder);
                var used = Internals.Decode(decoder, chunk, output);
                Check.That(used >= 0 && used <= chunk.Length, "Decode consumes within its input");
                Check.That(!wasDone || used == 0, "nothing is consumed after the end of data");
                Check.That(wasDone || Internals.IsDone(decoder) || used == chunk.Length, "everything is consumed until the end of data");
                consumed += used;
            }

            Check.That(Internals.IsDone(decoder), "CRLF.CRLF always ends the data");
            var (endIndex, expected, bare, longLine) = Reference(wire, policy, maxLine);
            Check.That(consumed == endIndex, $"the data ends at the first CRLF.CRLF: consumed {consumed}, expected {endIndex}");
            Internals.Complete(output);
            using var stream = Internals.OpenRead(output);
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            Check.That(copy.ToArray().AsSpan().SequenceEqual(expected), $"content differs from the reference ({policy}): got {Show(copy.ToArray())}, expected {Show(expected)}");
            Check.That(Internals.SawBareLineEnding(decoder) == bare, $"bare line ending flag {Internals.SawBareLineEnding(decoder)}, expected {bare}");
            Check.That(Internals.SawLongLine(decoder) == longLine, $"long line flag {Internals.SawLongLine(decoder)}, expected {longLine}");
        }
        finally
        {
            ((IDisposable)output).Dispose();
        }
    }

    /// <summary>The naive reference decoder.</summary>
    private static (int EndIndex, byte[] Content, bool Bare, bool LongLine) Reference(byte[] wire, BareLineEndingPolicy policy, int maxLine)
    {
        int endIndex;
        byte[] region;
        if (wire.AsSpan().StartsWith(".\r\n"u8))
        {
            endIndex = 3;
            region = [];
        }
        else
        {
            var at = wire.AsSpan().IndexOf(End);
            endIndex = at + End.Length;
            region = wire[..(at + 2)];
        }

        // Unstuff: a dot at a line start (after CRLF, or at the very start) followed by anything but CR or LF.
        var unstuffed = new List<byte>(region.Length);
        var bare = false;
        for (var i = 0; i < region.Length; i++)
        {
            // Before the first CRLF.CRLF every CRLF ends a line: a line start is the very start or right after one.
            var lineStart = i == 0 || (i >= 2 && region[i - 2] == '\r' && region[i - 1] == '\n');
            if (lineStart && region[i] == '.' && i + 1 < region.Length && region[i + 1] is not ((byte)'\r' or (byte)'\n'))
            {
                continue;
            }

            if ((region[i] == '\r' && (i + 1 >= region.Length || region[i + 1] != '\n')) || (region[i] == '\n' && (i == 0 || region[i - 1] != '\r')))
            {
                bare = true;
            }

            unstuffed.Add(region[i]);
        }

        var content = policy == BareLineEndingPolicy.Reject ? unstuffed.ToArray() : Normalize([.. unstuffed]);
        var longLine = false;
        var lineLength = 0;
        for (var i = 0; i < content.Length; i++)
        {
            if (content[i] == '\r' && i + 1 < content.Length && content[i + 1] == '\n')
            {
                longLine |= lineLength + 2 > maxLine;
                lineLength = 0;
                i++;
            }
            else
            {
                lineLength++;
            }
        }

        // The region ends with CRLF, so every line was closed above.
        return (endIndex, content, bare, longLine);
    }

    private static byte[] Normalize(byte[] content)
    {
        var result = new List<byte>(content.Length + 16);
        for (var i = 0; i < content.Length; i++)
        {
            if (content[i] == '\r' && i + 1 < content.Length && content[i + 1] == '\n')
            {
                result.Add((byte)'\r');
                result.Add((byte)'\n');
                i++;
            }
            else if (content[i] is (byte)'\r' or (byte)'\n')
            {
                result.Add((byte)'\r');
                result.Add((byte)'\n');
            }
            else
            {
                result.Add(content[i]);
            }
        }

        return [.. result];
    }

    private static void CheckChunks(byte[] body, int piece, int maxLength)
    {
        var buffer = Internals.NewMessageBuffer(4096, maxLength, null);
        try
        {
            // Repeat the body past the 4 KiB memory threshold, so that a maximum above it spills to a file.
            var repeats = 1 + (body.Length == 0 ? 0 : 9000 / body.Length);
            var written = new List<byte>();
            for (var r = 0; r < repeats; r++)
            {
                for (var offset = 0; offset < body.Length; offset += piece)
                {
                    var chunk = body.AsSpan(offset, Math.Min(piece, body.Length - offset));
                    Internals.Write(buffer, chunk);
                    written.AddRange(chunk);
                }
            }

            Check.That(Internals.ReceivedLength(buffer) == written.Count, "every octet is counted");
            Check.That(Internals.Overflowed(buffer) == (written.Count > maxLength), "overflow is exactly past the maximum");
            Internals.Complete(buffer);
            using var stream = Internals.OpenRead(buffer);
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var expected = written.Take(maxLength).ToArray();
            Check.That(copy.ToArray().AsSpan().SequenceEqual(expected), "the stored octets are the first MaxLength octets written, exactly");
        }
        finally
        {
            ((IDisposable)buffer).Dispose();
        }
    }

    private static string Show(byte[] data) => Encoding.Latin1.GetString(data).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal).Replace("\0", "\\0", StringComparison.Ordinal);
}
