using System.Buffers;
using System.Text;
using Smtpd.Catcher.Pop3;
using Smtpd.Tests.Support;

namespace Smtpd.Catcher.Tests.Pop3;

/// <summary>The RETR and TOP encoder, fed the content whole, line by line and byte by byte.</summary>
public sealed class Pop3MessageEncoderTests
{
    private static string EncodeEveryWay(string content, int bodyLines)
    {
        var outputs = new[] { FeedMode.Whole, FeedMode.LineByLine, FeedMode.ByteByByte }.Select(mode =>
        {
            var encoder = new Pop3MessageEncoder(bodyLines);
            var output = new ArrayBufferWriter<byte>();
            foreach (var piece in Feed.Split(Encoding.ASCII.GetBytes(content), mode))
            {
                encoder.Write(piece, output);
            }

            encoder.Complete(output);
            return Encoding.ASCII.GetString(output.WrittenSpan);
        }).ToList();
        Assert.Equal(outputs[0], outputs[1]);
        Assert.Equal(outputs[0], outputs[2]);
        return outputs[0];
    }

    [Theory]
    [InlineData("a\r\n", "a\r\n.\r\n")]
    [InlineData(".\r\n", "..\r\n.\r\n")]
    [InlineData("a\r\n.\r\n.b\r\n", "a\r\n..\r\n..b\r\n.\r\n")]
    [InlineData("x.y\r\n", "x.y\r\n.\r\n")]
    [InlineData("", ".\r\n")]
    [InlineData("no final line end", "no final line end\r\n.\r\n")]
    [InlineData("bare\n.lf\n", "bare\n..lf\n.\r\n")]
    public void RetrStuffsLeadingDotsAndEndsWithTheTerminator(string content, string expected) =>
        Assert.Equal(expected, EncodeEveryWay(content, -1));

    [Theory]
    [InlineData(0, "A: 1\r\nB: 2\r\n\r\n.\r\n")]
    [InlineData(1, "A: 1\r\nB: 2\r\n\r\none\r\n.\r\n")]
    [InlineData(2, "A: 1\r\nB: 2\r\n\r\none\r\n..two\r\n.\r\n")]
    [InlineData(9, "A: 1\r\nB: 2\r\n\r\none\r\n..two\r\nthree\r\n.\r\n")]
    public void TopSendsHeadersTheBlankLineAndAtMostNBodyLines(int lines, string expected) =>
        Assert.Equal(expected, EncodeEveryWay("A: 1\r\nB: 2\r\n\r\none\r\n.two\r\nthree\r\n", lines));

    [Fact]
    public void TopOfAMessageWithoutABodySendsItWhole() =>
        Assert.Equal("A: 1\r\nB: 2\r\n.\r\n", EncodeEveryWay("A: 1\r\nB: 2\r\n", 3));

    [Fact]
    public void TopStopsAsSoonAsItsLinesAreWritten()
    {
        var encoder = new Pop3MessageEncoder(1);
        var output = new ArrayBufferWriter<byte>();
        encoder.Write("A: 1\r\n\r\nbody\r\n"u8, output);
        Assert.True(encoder.IsDone);
        encoder.Write("more\r\n"u8, output);
        Assert.Equal("A: 1\r\n\r\nbody\r\n", Encoding.ASCII.GetString(output.WrittenSpan));
    }
}
