using Smtpd.Catcher.Chaos;
using Smtpd.Testing;

namespace Smtpd.Catcher.Tests.Chaos;

/// <summary>The chaos script line (<c>POINT ACTION [xN|always] [after N]</c>) and Mailpit's trigger text.</summary>
public sealed class ChaosScriptTests
{
    [Fact]
    public void FourFiftyTwoForTheNextTwoRecipientsReadsAsARejectionTwiceAtRcpt()
    {
        var script = ChaosScript.Parse("rcpt 452 x2");
        Assert.Equal(new ChaosScript(SmtpFaultPoint.Rcpt, SmtpFaultKind.Reject, 452, null, TimeSpan.Zero, 2, 0), script);
    }

    [Theory]
    [InlineData("RCPT 452 4.2.2 x3 after 1", SmtpFaultPoint.Rcpt, SmtpFaultKind.Reject, 452, "4.2.2", 0, 3, 1)]
    [InlineData("message 451", SmtpFaultPoint.Message, SmtpFaultKind.Reject, 451, null, 0, 1, 0)]
    [InlineData("sender 550 always", SmtpFaultPoint.Mail, SmtpFaultKind.Reject, 550, null, 0, SmtpFault.Unlimited, 0)]
    [InlineData("authentication 535", SmtpFaultPoint.Auth, SmtpFaultKind.Reject, 535, null, 0, 1, 0)]
    [InlineData("mail disconnect", SmtpFaultPoint.Mail, SmtpFaultKind.Disconnect, 0, null, 0, 1, 0)]
    [InlineData("  data   delay=1500ms  x2 ", SmtpFaultPoint.Data, SmtpFaultKind.Delay, 0, null, 1500, 2, 0)]
    [InlineData("connect 421 after 3", SmtpFaultPoint.Connect, SmtpFaultKind.Reject, 421, null, 0, 1, 3)]
    public void EveryPartOfTheScriptIsRead(string text, SmtpFaultPoint point, SmtpFaultKind kind, int code, string? enhanced, int delayMs, int times, int skip)
    {
        var script = ChaosScript.Parse(text);
        Assert.Equal(new ChaosScript(point, kind, code, enhanced, TimeSpan.FromMilliseconds(delayMs), times, skip), script);
    }

    [Theory]
    [InlineData("", "not a chaos script")]
    [InlineData("rcpt", "not a chaos script")]
    [InlineData("smtp 452", "not a fault point")]
    [InlineData("rcpt 252", "not a fault")]
    [InlineData("rcpt 45", "not a fault")]
    [InlineData("rcpt 452 5.2.2", "does not match")]
    [InlineData("rcpt 452 x0", "not understood")]
    [InlineData("rcpt 452 twice", "not understood")]
    [InlineData("rcpt 452 after", "not understood")]
    [InlineData("data delay=0s", "not a delay")]
    [InlineData("data delay=forever", "not a delay")]
    public void AMalformedScriptIsRefusedWithOneLineSayingWhy(string text, string reason)
    {
        var ex = Assert.Throws<FormatException>(() => ChaosScript.Parse(text));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void AScriptLongerThanTheCapIsRefused()
    {
        var ex = Assert.Throws<FormatException>(() => ChaosScript.Parse("rcpt 452 " + new string(' ', ChaosScript.MaxLength)));
        Assert.Contains("at most", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MailpitTriggerTextSetsEachNamedTriggerAndLeavesTheOthers()
    {
        var triggers = CatcherChaos.ParseTriggers("Sender:451:50, recipients:452:10", ChaosTriggers.Off);
        Assert.Equal(new ChaosTrigger(451, 50), triggers.Sender);
        Assert.Equal(new ChaosTrigger(452, 10), triggers.Recipient);
        Assert.Equal(ChaosTriggers.Off.Authentication, triggers.Authentication);
        Assert.Equal(new ChaosTrigger(535, 100), CatcherChaos.ParseTriggers("auth:535:100", triggers).Authentication);
    }

    [Theory]
    [InlineData("sender:451", "KEY:CODE:PERCENT")]
    [InlineData("sender:abc:5", "KEY:CODE:PERCENT")]
    [InlineData("helo:451:5", "use sender, recipient or authentication")]
    [InlineData("sender:399:5", "from 400 to 599")]
    [InlineData("recipient:451:101", "from 0 to 100")]
    public void BadMailpitTriggerTextIsRefused(string text, string reason)
    {
        var ex = Assert.Throws<FormatException>(() => CatcherChaos.ParseTriggers(text, ChaosTriggers.Off));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OptionsRefuseATriggerOutOfRangeAndKeepAValidOne()
    {
        var options = new CatcherChaosOptions();
        Assert.Equal(ChaosTriggers.Off, options.Triggers);
        Assert.False(options.Enabled);
        Assert.Null(options.Seed);
        var valid = ChaosTriggers.Off with { Recipient = new ChaosTrigger(452, 25) };
        options.Triggers = valid;
        Assert.Equal(valid, options.Triggers);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.Triggers = ChaosTriggers.Off with { Sender = new ChaosTrigger(200, 5) });
        Assert.Equal(valid, options.Triggers);
    }

    [Fact]
    public void AMalformedScriptInTheOptionsStopsTheCatcherBeingMade()
    {
        var options = new CatcherOptions();
        options.Chaos.Scripts.Add("rcpt nope");
        var ex = Assert.Throws<CatcherConfigurationException>(() => new MailCatcher(options));
        Assert.Equal(nameof(CatcherOptions.Chaos), ex.Setting);
    }
}
