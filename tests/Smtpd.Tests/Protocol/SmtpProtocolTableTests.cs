using Smtpd.Protocol;
using Smtpd.Sessions;

namespace Smtpd.Tests.Protocol;

/// <summary>
/// Adding a command is a command type and one row of <see cref="SmtpProtocol.CommandTable"/> (docs/contributing.md):
/// these tests fail when a verb has no row or two, when a row lacks a handler or a name, when an EHLO keyword is not
/// switched by its condition, and when a condition has no case in the switch.
/// </summary>
public sealed class SmtpProtocolTableTests
{
    // The verb enum is internal: the theories take its name.
    public static TheoryData<string> Verbs => new(Enum.GetNames<SmtpVerb>());

    [Theory]
    [MemberData(nameof(Verbs))]
    public void EveryVerbHasExactlyOneRowInTheCommandTable(string verb) =>
        Assert.Single(SmtpProtocol.CommandTable, row => row.Verb == Enum.Parse<SmtpVerb>(verb));

    [Theory]
    [MemberData(nameof(Verbs))]
    public void EveryVerbInTheTableHasAHandlerAndIsAcceptedInSomeState(string verb)
    {
        var row = SmtpProtocol.Row(Enum.Parse<SmtpVerb>(verb));
        Assert.Equal(Enum.Parse<SmtpVerb>(verb), row.Verb);
        Assert.NotNull(row.Handler);
        Assert.Contains(Enum.GetValues<SessionState>(), state => SmtpStateTable.IsAllowed(row.Verb, state));
    }

    [Theory]
    [MemberData(nameof(Verbs))]
    public void TheStateTableTakesEachVerbsStatesFromItsRow(string verb)
    {
        var row = SmtpProtocol.Row(Enum.Parse<SmtpVerb>(verb));
        foreach (var state in Enum.GetValues<SessionState>())
        {
            Assert.Equal(row.States.HasFlag((SessionStates)(1 << (int)state)), SmtpStateTable.IsAllowed(row.Verb, state));
        }
    }

    [Fact]
    public void EveryRowNamesItsVerbAsTheClientWritesIt()
    {
        foreach (var row in SmtpProtocol.CommandTable.Where(r => r.Verb is not (SmtpVerb.Unknown or SmtpVerb.Forbidden)))
        {
            Assert.Equal(row.Verb, Smtpd.Parsing.CommandParser.ParseVerb(System.Text.Encoding.ASCII.GetBytes(row.Name), lmtp: row.Verb == SmtpVerb.Lhlo));
        }
    }

    [Fact]
    public void ATableWithoutARowForAVerbDoesNotLoad()
    {
        var withoutHelp = SmtpProtocol.CommandTable.Where(row => row.Verb != SmtpVerb.Help).ToArray();
        var error = Assert.Throws<InvalidOperationException>(() => SmtpProtocol.IndexByVerb(withoutHelp));
        Assert.Equal("The command table has no row for Help.", error.Message);
    }

    [Fact]
    public void ATableWithTwoRowsForAVerbDoesNotLoad()
    {
        SmtpCommandRow[] doubled = [.. SmtpProtocol.CommandTable, SmtpProtocol.Row(SmtpVerb.Noop)];
        var error = Assert.Throws<InvalidOperationException>(() => SmtpProtocol.IndexByVerb(doubled));
        Assert.Equal("The command table has two rows for Noop.", error.Message);
    }

    [Fact]
    public void OnlyTheCommandsThatLeadToTlsOrAwayAreServedBeforeTls()
    {
        // RFC 3207 4: with TLS required, the server may refuse everything but these.
        var beforeTls = SmtpProtocol.CommandTable.Where(row => row.AllowedBeforeTls).Select(row => row.Verb).Order().ToArray();
        SmtpVerb[] expected = [SmtpVerb.Helo, SmtpVerb.Ehlo, SmtpVerb.Rset, SmtpVerb.Noop, SmtpVerb.Quit, SmtpVerb.StartTls, SmtpVerb.Lhlo];
        Assert.Equal(expected.Order(), beforeTls);
    }

    [Fact]
    public void EveryEhloKeywordThatAnnouncesACommandIsOnThatCommandsRow()
    {
        var commandKeywords = EhloReply.Keywords.Where(k => !EhloReply.ServiceKeywords.Contains(k)).ToArray();
        Assert.Equal(["CHUNKING", "STARTTLS", "AUTH", "HELP"], commandKeywords.Select(k => k.Name));
        Assert.All(commandKeywords, k => Assert.Equal(k.Name, SmtpProtocol.Row(k.Verb!.Value).Ehlo!.Name));
    }

    [Fact]
    public void EveryEhloKeywordNamesAVerbWithARowOrNone() =>
        Assert.All(EhloReply.Keywords.Where(k => k.Verb is not null), k => Assert.Equal(k.Verb, SmtpProtocol.Row(k.Verb!.Value).Verb));

    [Fact]
    public void EveryEhloConditionHasACaseInTheSwitch()
    {
        var options = new SmtpServerOptions();
        foreach (var condition in Enum.GetValues<EhloCondition>())
        {
            // The switch throws for a condition without a case; each case must also be able to say no, but Always.
            var on = EhloReply.IsOffered(condition, new SmtpServerOptions { EnableDsn = true }, offerStartTls: true, authKeyword: "AUTH PLAIN");
            var off = EhloReply.IsOffered(condition, options, offerStartTls: false, authKeyword: null);
            Assert.True(on, $"{condition} is not offered when it holds");
            Assert.Equal(condition == EhloCondition.Always, off);
        }
    }

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
            "250-SIZE 1000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-PIPELINING\r\n250-BINARYMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-CHUNKING\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n250 HELP\r\n",
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
