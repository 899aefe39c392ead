using System.Text;

namespace Smtpd.Tests.Protocol;

/// <summary><see cref="SmtpReply"/>: wire form (RFC 5321 4.2, RFC 2034 3) and constructor validation.</summary>
public sealed class SmtpReplyTests
{
    private static string Wire(SmtpReply reply, bool enhanced) => Encoding.UTF8.GetString(reply.GetBytes(enhanced));

    [Fact]
    public void ASingleLineReplyIsWrittenWithOrWithoutItsEnhancedCode()
    {
        var reply = new SmtpReply(250, "2.1.0", "Sender OK");

        Assert.Equal("250 2.1.0 Sender OK\r\n", Wire(reply, enhanced: true));
        Assert.Equal("250 Sender OK\r\n", Wire(reply, enhanced: false));
        Assert.Equal("250 2.1.0 Sender OK\r\n", Wire(reply, enhanced: true));
    }

    [Fact]
    public void AReplyWithoutEnhancedCodeIsWrittenTheSameEitherWay()
    {
        var reply = new SmtpReply(354, null, "End data with <CR><LF>.<CR><LF>");

        Assert.Equal("354 End data with <CR><LF>.<CR><LF>\r\n", Wire(reply, enhanced: true));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>\r\n", Wire(reply, enhanced: false));
    }

    [Fact]
    public void AMultiLineReplyHasAHyphenAfterTheCodeOnEveryLineButTheLast()
    {
        var reply = new SmtpReply(250, "2.0.0", ["mail.example Hello", "SIZE 1000", "HELP"]);

        Assert.Equal("250-mail.example Hello\r\n250-SIZE 1000\r\n250 HELP\r\n", Wire(reply, enhanced: false));
        Assert.Equal("250-2.0.0 mail.example Hello\r\n250-2.0.0 SIZE 1000\r\n250 2.0.0 HELP\r\n", Wire(reply, enhanced: true));
        Assert.Equal(["mail.example Hello", "SIZE 1000", "HELP"], reply.Lines);
        Assert.Equal("mail.example Hello", reply.Text);
    }

    [Fact]
    public void EmptyTextAndUtf8TextAreWrittenAsGiven()
    {
        Assert.Equal("250 \r\n", Wire(new SmtpReply(250, null, ""), enhanced: false));
        Assert.Equal("250 2.0.0 Grüße\r\n"u8.ToArray(), new SmtpReply(250, "2.0.0", "Grüße").GetBytes(true).ToArray());
    }

    [Fact]
    public void TheLinesAreCopiedAtConstruction()
    {
        var lines = new List<string> { "one", "two" };
        var reply = new SmtpReply(250, null, lines);

        lines[0] = "changed";
        lines.Add("three");

        Assert.Equal(["one", "two"], reply.Lines);
        Assert.Equal("250-one\r\n250 two\r\n", Wire(reply, enhanced: false));
    }

    [Theory]
    [InlineData(250, "2.0.0", "OK", "250 2.0.0 OK")]
    [InlineData(354, null, "Go ahead", "354 Go ahead")]
    public void ToStringShowsCodeEnhancedCodeAndText(int code, string? enhanced, string text, string expected)
    {
        Assert.Equal(expected, new SmtpReply(code, enhanced, text).ToString());
    }

    [Theory]
    [InlineData(200, true, false)]
    [InlineData(354, true, false)]
    [InlineData(399, true, false)]
    [InlineData(400, false, true)]
    [InlineData(451, false, true)]
    [InlineData(499, false, true)]
    [InlineData(500, false, false)]
    [InlineData(599, false, false)]
    public void PositiveAndTransientFollowTheFirstDigit(int code, bool positive, bool transient)
    {
        var reply = new SmtpReply(code, null, "text");

        Assert.Equal(positive, reply.IsPositive);
        Assert.Equal(transient, reply.IsTransient);
    }

    [Theory]
    [InlineData(-250)]
    [InlineData(0)]
    [InlineData(199)]
    [InlineData(600)]
    [InlineData(2500)]
    public void ACodeOutside200To599IsRefused(int code)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpReply(code, null, "text"));

        Assert.Equal("code", error.ParamName);
    }

    [Theory]
    [InlineData(200)]
    [InlineData(599)]
    public void TheCodeRangeIsInclusive(int code)
    {
        Assert.Equal(code, new SmtpReply(code, null, "text").Code);
    }

    [Theory]
    [InlineData("bad\r\n250 forged")]
    [InlineData("bad\r")]
    [InlineData("bad\nline")]
    [InlineData("\n")]
    public void TextWithCrOrLfIsRefused(string text)
    {
        Assert.Throws<ArgumentException>("lines", () => new SmtpReply(250, null, text));
        Assert.Throws<ArgumentException>("lines", () => new SmtpReply(250, null, ["fine", text]));
    }

    [Fact]
    public void AReplyNeedsAtLeastOneLine()
    {
        Assert.Throws<ArgumentException>("lines", () => new SmtpReply(250, null, Array.Empty<string>()));
        Assert.Throws<ArgumentNullException>("lines", () => new SmtpReply(250, null, (IReadOnlyList<string>)null!));
        Assert.Throws<ArgumentNullException>("lines", () => new SmtpReply(250, null, ["a", null!]));
    }

    [Theory]
    [InlineData("")]
    [InlineData("2")]
    [InlineData("2.0")]
    [InlineData("2.0.0.0")]
    [InlineData("2..0")]
    [InlineData("2.0.")]
    [InlineData("2.a.0")]
    [InlineData("2.0.x")]
    [InlineData("2.1000.0")]
    [InlineData("2.0.1000")]
    [InlineData("22.0.0")]
    [InlineData(" 2.0.0")]
    [InlineData("2.0.0 ")]
    [InlineData("2.-1.0")]
    [InlineData("2.٣.0")]
    [InlineData("x.0.0")]
    public void AMalformedEnhancedCodeIsRefused(string enhanced)
    {
        Assert.Throws<ArgumentException>("enhancedStatusCode", () => new SmtpReply(250, enhanced, "text"));
    }

    [Theory]
    [InlineData(250, "4.0.0")]
    [InlineData(250, "5.0.0")]
    [InlineData(451, "2.0.0")]
    [InlineData(451, "5.0.0")]
    [InlineData(550, "4.7.1")]
    [InlineData(354, "3.0.0")]
    [InlineData(354, "2.0.0")]
    public void AnEnhancedCodeWhoseClassDiffersFromTheCodeIsRefused(int code, string enhanced)
    {
        Assert.Throws<ArgumentException>("enhancedStatusCode", () => new SmtpReply(code, enhanced, "text"));
    }

    [Theory]
    [InlineData(250, "2.0.0")]
    [InlineData(252, "2.5.0")]
    [InlineData(421, "4.4.2")]
    [InlineData(550, "5.7.1")]
    [InlineData(554, "5.999.999")]
    [InlineData(250, "2.10.12")]
    public void AWellFormedEnhancedCodeOfTheSameClassIsKept(int code, string enhanced)
    {
        Assert.Equal(enhanced, new SmtpReply(code, enhanced, "text").EnhancedStatusCode);
    }

    [Fact]
    public void EveryBuiltInReplyIsWellFormedOnTheWire()
    {
        var replies = typeof(SmtpReplies)
            .GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Select(f => (f.Name, Reply: Assert.IsType<SmtpReply>(f.GetValue(null))))
            .ToList();
        Assert.NotEmpty(replies);

        foreach (var (name, reply) in replies)
        {
            foreach (var enhanced in new[] { false, true })
            {
                var wire = Wire(reply, enhanced);
                Assert.True(wire.EndsWith("\r\n", StringComparison.Ordinal), name);
                Assert.StartsWith($"{reply.Code} ", wire, StringComparison.Ordinal);
                Assert.Equal(1, wire.Split("\r\n").Length - 1);
            }
        }
    }
}
