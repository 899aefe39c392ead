using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Smtpd.Catcher.Pop3;

/// <summary>Writes POP3 responses (RFC 1939 section 3: <c>+OK</c> or <c>-ERR</c>, then text, CRLF) into the output.</summary>
internal static class Pop3Replies
{
    /// <summary>The end of a multi-line response (RFC 1939 section 3).</summary>
    public static ReadOnlySpan<byte> EndOfMultiLine => ".\r\n"u8;

    /// <summary>The line end.</summary>
    public static ReadOnlySpan<byte> CrLf => "\r\n"u8;

    /// <summary>Writes <c>+OK text</c>.</summary>
    /// <param name="output">The output.</param>
    /// <param name="text">ASCII text.</param>
    public static void Ok(IBufferWriter<byte> output, string text)
    {
        output.Write("+OK "u8);
        Ascii(output, text);
        output.Write(CrLf);
    }

    /// <summary>Writes <c>-ERR text</c>.</summary>
    /// <param name="output">The output.</param>
    /// <param name="text">ASCII text, starting with a response code in brackets where one applies (RFC 2449 section 8).</param>
    public static void Err(IBufferWriter<byte> output, string text)
    {
        output.Write("-ERR "u8);
        Ascii(output, text);
        output.Write(CrLf);
    }

    /// <summary>Writes ASCII text as it is.</summary>
    /// <param name="output">The output.</param>
    /// <param name="text">The text.</param>
    public static void Ascii(IBufferWriter<byte> output, string text)
    {
        var span = output.GetSpan(text.Length);
        output.Advance(Encoding.ASCII.GetBytes(text, span));
    }

    /// <summary>Writes a decimal number.</summary>
    /// <param name="output">The output.</param>
    /// <param name="value">The number.</param>
    public static void Number(IBufferWriter<byte> output, long value)
    {
        var span = output.GetSpan(20);
        Utf8Formatter.TryFormat(value, span, out var written);
        output.Advance(written);
    }

    /// <summary>Writes <c>number SP number CRLF</c>: a scan listing (RFC 1939 section 5, LIST) or a STAT answer's tail.</summary>
    /// <param name="output">The output.</param>
    /// <param name="first">The first number.</param>
    /// <param name="second">The second number.</param>
    public static void Pair(IBufferWriter<byte> output, long first, long second)
    {
        Number(output, first);
        output.Write(" "u8);
        Number(output, second);
        output.Write(CrLf);
    }
}
