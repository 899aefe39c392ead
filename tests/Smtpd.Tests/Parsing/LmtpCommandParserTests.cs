using System.Text;
using Smtpd.Parsing;
using Smtpd.Protocol;
using Smtpd.Protocol.Commands;

namespace Smtpd.Tests.Parsing;

/// <summary>
/// <see cref="CommandParser"/> for LMTP sessions (RFC 2033 4.1): LHLO is a verb there and nowhere else, and HELO and
/// EHLO are refused. Every line is parsed as given and after travelling through <see cref="CommandLineReader"/> fed
/// the three ways (with its CRLF), and both must agree.
/// </summary>
public sealed class LmtpCommandParserTests
{
    private static SmtpCommand Parse(string line, bool lmtp) => Parse(Encoding.UTF8.GetBytes(line), lmtp);

    private static SmtpCommand Parse(byte[] line, bool lmtp) =>
        CommandFeeds.ParseEveryWay(line, l => CommandParser.Parse(l, smtpUtf8: false, dsn: false, cache: null, lmtp));

    private static string Describe(SmtpCommand command) => CommandFeeds.Describe(command);

    [Theory]
    [InlineData("LHLO client.example")]
    [InlineData("lhlo client.example")]
    [InlineData("LhLo client.example")]
    [InlineData("LHLO   client.example   ")]
    [InlineData("LHLO client.example trailing words")]
    public void LhloIsAVerbWithTheSemanticsOfEhloInLmtp(string line)
    {
        var helo = Assert.IsType<HeloCommand>(Parse(line, lmtp: true));

        Assert.Equal(SmtpVerb.Lhlo, helo.Verb);
        Assert.Equal("client.example", helo.Domain);
        Assert.True(helo.IsExtended);
        Assert.Equal(SmtpVerb.Lhlo, CommandParser.ParseVerb(Encoding.ASCII.GetBytes(line), lmtp: true));
    }

    [Theory]
    [InlineData("LHLO client.example")]
    [InlineData("lhlo client.example")]
    [InlineData("LHLO")]
    [InlineData("LHLO \u0001")]
    public void LhloIsAnUnknownCommandOutsideLmtpAsBefore(string line)
    {
        // Exactly what SMTP sessions have always seen: no verb, so no argument check either.
        Assert.Same(UnknownCommand.Instance, Parse(line, lmtp: false));
        Assert.Same(UnknownCommand.Instance, CommandParser.Parse(Encoding.UTF8.GetBytes(line), smtpUtf8: false));
        Assert.Equal(SmtpVerb.Unknown, CommandParser.ParseVerb(Encoding.UTF8.GetBytes(line)));
    }

    [Theory]
    [InlineData("HELO client.example", "Helo")]
    [InlineData("EHLO client.example", "Ehlo")]
    [InlineData("ehlo client.example", "Ehlo")]
    [InlineData("EHLO", "Ehlo")]
    public void HeloAndEhloAreRefusedWith500InLmtp(string line, string verb)
    {
        var invalid = Assert.IsType<InvalidCommand>(Parse(line, lmtp: true));

        // RFC 2033 4.1: LHLO replaces them. The verb stays, so the state table and the error count treat it as one.
        Assert.Equal(Enum.Parse<SmtpVerb>(verb), invalid.Verb);
        Assert.Same(SmtpReplies.LhloRequired, invalid.Reply);
        Assert.Equal(500, invalid.Reply.Code);
        Assert.Equal("5.5.1", invalid.Reply.EnhancedStatusCode);
    }

    [Theory]
    [InlineData("LHLO")]
    [InlineData("LHLO ")]
    [InlineData("LHLO    ")]
    public void LhloWithoutADomainIs501(string line)
    {
        var invalid = Assert.IsType<InvalidCommand>(Parse(line, lmtp: true));

        Assert.Equal(SmtpVerb.Lhlo, invalid.Verb);
        Assert.Same(SmtpReplies.HeloRequiresDomain, invalid.Reply);
    }

    [Fact]
    public void LhloWithAControlCharacterIs501InLmtp()
    {
        var invalid = Assert.IsType<InvalidCommand>(Parse("LHLO client\u0001.example", lmtp: true));

        Assert.Equal(SmtpVerb.Lhlo, invalid.Verb);
        Assert.Same(SmtpReplies.InvalidCharacters, invalid.Reply);
    }

    [Theory]
    [InlineData("LHLOX client.example")]
    [InlineData("LHL client.example")]
    [InlineData("XLHLO client.example")]
    [InlineData("LH\0O client.example")]
    public void NearMissesOfLhloAreUnknownInLmtp(string line)
    {
        Assert.Same(UnknownCommand.Instance, Parse(line, lmtp: true));
    }

    [Theory]
    [InlineData("MAIL FROM:<a@example.com> SIZE=100 BODY=8BITMIME")]
    [InlineData("RCPT TO:<b@example.com>")]
    [InlineData("DATA")]
    [InlineData("BDAT 100 LAST")]
    [InlineData("RSET")]
    [InlineData("NOOP x")]
    [InlineData("QUIT")]
    [InlineData("VRFY bob")]
    [InlineData("EXPN list")]
    [InlineData("HELP")]
    [InlineData("STARTTLS")]
    [InlineData("AUTH PLAIN AGFAAGI=")]
    [InlineData("XYZZY")]
    [InlineData("GET / HTTP/1.1")]
    public void EveryOtherLineParsesTheSameInLmtpAsInSmtp(string line)
    {
        Assert.Equal(Describe(Parse(line, lmtp: false)), Describe(Parse(line, lmtp: true)));
    }
}
