using Smtpd.Protocol;
using Smtpd.Sessions;

namespace Smtpd.Tests.Protocol;

/// <summary><see cref="SmtpStateTable"/>: which verb is legal in which state (RFC 5321 4.1.4, RFC 3030 2).</summary>
public sealed class SmtpStateTableTests
{
    private static readonly SessionState[] AllStates = Enum.GetValues<SessionState>();

    private static readonly SessionState[] AcceptedStates = AllStates.Where(s => s != SessionState.Rejected).ToArray();

    /// <summary>The expected table, written out independently of the source for every verb the RFCs pin down.</summary>
    private static readonly Dictionary<SmtpVerb, SessionState[]> Expected = new()
    {
        [SmtpVerb.Helo] = AcceptedStates,
        [SmtpVerb.Ehlo] = AcceptedStates,
        [SmtpVerb.Mail] = [SessionState.Ready],
        [SmtpVerb.Rcpt] = [SessionState.MailGiven, SessionState.RecipientGiven],
        [SmtpVerb.Data] = [SessionState.RecipientGiven],
        [SmtpVerb.Bdat] = [SessionState.RecipientGiven, SessionState.BdatInProgress],
        [SmtpVerb.Rset] = AcceptedStates,
        [SmtpVerb.Noop] = AcceptedStates,
        [SmtpVerb.Quit] = AllStates,
    };

    public static TheoryData<string, string> VerbStatePairs
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var verb in Expected.Keys)
            {
                foreach (var state in AllStates)
                {
                    data.Add(verb.ToString(), state.ToString());
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(VerbStatePairs))]
    public void EachVerbIsAllowedExactlyInItsStates(string verbName, string stateName)
    {
        var verb = Enum.Parse<SmtpVerb>(verbName);
        var state = Enum.Parse<SessionState>(stateName);
        var allowed = Expected[verb].Contains(state);

        Assert.Equal(allowed, SmtpStateTable.IsAllowed(verb, state));
        var refusal = SmtpStateTable.Check(verb, state);
        if (allowed)
        {
            Assert.Null(refusal);
        }
        else
        {
            Assert.NotNull(refusal);
            Assert.Equal(503, refusal.Code);
            Assert.Equal("5.5.1", refusal.EnhancedStatusCode);
            Assert.StartsWith("Bad sequence of commands: ", refusal.Text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void EveryRefusalInTheWholeTableIs503WithAHelpfulText()
    {
        var refusals = 0;
        foreach (var verb in Enum.GetValues<SmtpVerb>())
        {
            foreach (var state in AllStates)
            {
                var refusal = SmtpStateTable.Check(verb, state);
                Assert.Equal(refusal is null, SmtpStateTable.IsAllowed(verb, state));
                if (refusal is null)
                {
                    continue;
                }

                refusals++;
                Assert.Equal(503, refusal.Code);
                Assert.Equal("5.5.1", refusal.EnhancedStatusCode);
                Assert.StartsWith("Bad sequence of commands: ", refusal.Text, StringComparison.Ordinal);
                Assert.True(refusal.Text.Length > "Bad sequence of commands: ".Length + 10, refusal.Text);
                Assert.Same(refusal, SmtpStateTable.Check(verb, state));
            }
        }

        Assert.True(refusals > 0);
    }

    [Fact]
    public void OnlyQuitIsAcceptedInTheRejectedState()
    {
        // Forbidden (an HTTP request line) is "accepted" everywhere only to be answered 421 and closed.
        foreach (var verb in Enum.GetValues<SmtpVerb>())
        {
            Assert.Equal(verb is SmtpVerb.Quit or SmtpVerb.Forbidden, SmtpStateTable.IsAllowed(verb, SessionState.Rejected));
            if (verb is not (SmtpVerb.Quit or SmtpVerb.Forbidden))
            {
                Assert.Equal("Bad sequence of commands: access denied, only QUIT is accepted", SmtpStateTable.Check(verb, SessionState.Rejected)!.Text);
            }
        }
    }

    [Theory]
    [InlineData("Mail", "Initial", "Bad sequence of commands: send HELO or EHLO first")]
    [InlineData("Rcpt", "Initial", "Bad sequence of commands: send HELO or EHLO first")]
    [InlineData("Data", "Initial", "Bad sequence of commands: send HELO or EHLO first")]
    [InlineData("Mail", "MailGiven", "Bad sequence of commands: nested MAIL command")]
    [InlineData("Mail", "RecipientGiven", "Bad sequence of commands: nested MAIL command")]
    [InlineData("Mail", "BdatInProgress", "Bad sequence of commands: nested MAIL command")]
    [InlineData("Rcpt", "Ready", "Bad sequence of commands: need MAIL before RCPT")]
    [InlineData("Data", "Ready", "Bad sequence of commands: need MAIL before DATA")]
    [InlineData("Bdat", "Ready", "Bad sequence of commands: need MAIL before BDAT")]
    [InlineData("Data", "MailGiven", "Bad sequence of commands: need RCPT before DATA")]
    [InlineData("Bdat", "MailGiven", "Bad sequence of commands: need RCPT before BDAT")]
    [InlineData("Data", "BdatInProgress", "Bad sequence of commands: DATA not allowed during a BDAT transfer (RFC 3030)")]
    [InlineData("Rcpt", "BdatInProgress", "Bad sequence of commands: RCPT not allowed during a BDAT transfer (RFC 3030)")]
    public void TheRefusalTextSaysWhatIsMissing(string verb, string state, string text)
    {
        var refusal = SmtpStateTable.Check(Enum.Parse<SmtpVerb>(verb), Enum.Parse<SessionState>(state));

        Assert.NotNull(refusal);
        Assert.Equal(text, refusal.Text);
    }

    [Fact]
    public void ATransactionNeedsMailThenRcptThenDataOrBdat()
    {
        // The happy path through the states, in order.
        Assert.True(SmtpStateTable.IsAllowed(SmtpVerb.Ehlo, SessionState.Initial));
        Assert.True(SmtpStateTable.IsAllowed(SmtpVerb.Mail, SessionState.Ready));
        Assert.True(SmtpStateTable.IsAllowed(SmtpVerb.Rcpt, SessionState.MailGiven));
        Assert.True(SmtpStateTable.IsAllowed(SmtpVerb.Rcpt, SessionState.RecipientGiven));
        Assert.True(SmtpStateTable.IsAllowed(SmtpVerb.Data, SessionState.RecipientGiven));
        Assert.True(SmtpStateTable.IsAllowed(SmtpVerb.Bdat, SessionState.RecipientGiven));
        Assert.True(SmtpStateTable.IsAllowed(SmtpVerb.Bdat, SessionState.BdatInProgress));
        Assert.False(SmtpStateTable.IsAllowed(SmtpVerb.Data, SessionState.BdatInProgress));
    }

    // ---- LMTP (RFC 2033) ----

    [Fact]
    public void LhloIsAcceptedWhereEhloIsAndBeforeTls()
    {
        foreach (var state in AllStates)
        {
            Assert.Equal(SmtpStateTable.IsAllowed(SmtpVerb.Ehlo, state), SmtpStateTable.IsAllowed(SmtpVerb.Lhlo, state));
            Assert.Equal(state != SessionState.Rejected, SmtpStateTable.IsAllowed(SmtpVerb.Lhlo, state));
        }

        Assert.True(SmtpProtocol.Row(SmtpVerb.Lhlo).AllowedBeforeTls);
    }

    [Theory]
    [InlineData("Mail")]
    [InlineData("Rcpt")]
    [InlineData("Data")]
    [InlineData("Bdat")]
    public void InLmtpTheRefusalBeforeTheGreetingAsksForLhlo(string verb)
    {
        var refusal = SmtpStateTable.Check(Enum.Parse<SmtpVerb>(verb), SessionState.Initial, lmtp: true);

        Assert.NotNull(refusal);
        Assert.Equal("Bad sequence of commands: send LHLO first", refusal.Text);
        Assert.Equal("Bad sequence of commands: send HELO or EHLO first", SmtpStateTable.Check(Enum.Parse<SmtpVerb>(verb), SessionState.Initial)!.Text);
    }

    [Fact]
    public void LmtpHasTheSameSequenceRulesAndTextsOnceGreeted()
    {
        foreach (var verb in Enum.GetValues<SmtpVerb>())
        {
            foreach (var state in AllStates)
            {
                var smtp = SmtpStateTable.Check(verb, state);
                var lmtp = SmtpStateTable.Check(verb, state, lmtp: true);
                Assert.Equal(smtp is null, lmtp is null);
                if (smtp is not null && state != SessionState.Initial)
                {
                    Assert.Equal(smtp.ToString(), lmtp!.ToString());
                }
            }
        }
    }
}
