using Smtpd.Protocol;
using Smtpd.Sessions;

namespace Smtpd.Tests.Protocol;

/// <summary>
/// Adding a command is a command type, a parser case, a state-table row and a handler row (docs/contributing.md):
/// these tests fail when one of the rows is missing, and when an EHLO keyword is not switched by its condition.
/// </summary>
public sealed class SmtpProtocolTableTests
{
    // The verb enum is internal: the theories take its name.
    public static TheoryData<string> Verbs => new(Enum.GetNames<SmtpVerb>());

    [Theory]
    [MemberData(nameof(Verbs))]
    public void EveryVerbHasAStateTableRow(string verb) =>
        Assert.Contains(Enum.GetValues<SessionState>(), state => SmtpStateTable.IsAllowed(Enum.Parse<SmtpVerb>(verb), state));

    [Theory]
    [MemberData(nameof(Verbs))]
    public void EveryVerbHasAHandler(string verb) => Assert.True(SmtpProtocol.HasHandler(Enum.Parse<SmtpVerb>(verb)), $"{verb} has no handler row in SmtpProtocol.Handlers");

    [Fact]
    public void EveryEhloKeywordThatAnnouncesACommandHasItsHandler() =>
        Assert.All(EhloReply.Keywords.Where(k => k.Verb is not null), k => Assert.True(SmtpProtocol.HasHandler(k.Verb!.Value), $"{k.Name} announces {k.Verb}, which has no handler"));

    [Fact]
    public void EveryEhloKeywordIsAdvertisedWhenItsConditionHoldsAndOnlyThen()
    {
        foreach (var keyword in EhloReply.Keywords)
        {
            var on = Keywords(keyword.Condition, holds: true);
            Assert.Contains(keyword.Name, on);
            var off = Keywords(keyword.Condition, holds: false);
            if (keyword.Condition == EhloCondition.Always)
            {
                Assert.Contains(keyword.Name, off);
            }
            else
            {
                Assert.DoesNotContain(keyword.Name, off);
            }
        }
    }

    [Fact]
    public void TheEhloExtensionsAreTheKeywordsInTableOrderWithTheLastLineMarked()
    {
        var options = new SmtpServerOptions { EnableDsn = true, MaxMessageSize = 1000 };
        var text = System.Text.Encoding.ASCII.GetString(EhloReply.EncodeExtensions(options, offerStartTls: true, authKeyword: "AUTH PLAIN"));
        Assert.Equal(
            "250-SIZE 1000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n250 HELP\r\n",
            text);
    }

    /// <summary>The keywords (first word of each line) advertised when <paramref name="condition"/> holds or not, the others all on.</summary>
    private static string[] Keywords(EhloCondition condition, bool holds)
    {
        var options = new SmtpServerOptions { EnableDsn = condition != EhloCondition.DsnEnabled || holds };
        var tls = condition != EhloCondition.TlsOffered || holds;
        var auth = condition != EhloCondition.AuthOffered || holds ? "AUTH PLAIN" : null;
        return System.Text.Encoding.ASCII.GetString(EhloReply.EncodeExtensions(options, tls, auth))
            .Split("\r\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line[4..].Split(' ')[0])
            .ToArray();
    }
}
