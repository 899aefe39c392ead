using Smtpd.Catcher.Mailboxes;

namespace Smtpd.Catcher.Tests.Mailboxes;

/// <summary>The <c>--mailbox NAME=KIND:VALUE</c> syntax: what it accepts, what it refuses and why, and the checks across rules.</summary>
public sealed class MailboxRuleTests
{
    [Theory]
    [InlineData("dev=to:@dev.example", "dev", MailboxRuleKind.RecipientDomain, "@dev.example")]
    [InlineData("alice=to:alice@example.com", "alice", MailboxRuleKind.Recipient, "alice@example.com")]
    [InlineData("CI=user:ci-bot", "ci", MailboxRuleKind.User, "ci-bot")]
    [InlineData("ops=port:2526", "ops", MailboxRuleKind.Port, "2526")]
    [InlineData("dev=keep:500", "dev", MailboxRuleKind.Keep, "500")]
    [InlineData(" team.a_1 = TO: @x.example ", "team.a_1", MailboxRuleKind.RecipientDomain, "@x.example")]
    public void AValidRuleParsesToItsMailboxKindAndValue(string text, string mailbox, MailboxRuleKind kind, string value)
    {
        var rule = MailboxRule.Parse(text);
        Assert.Equal((mailbox, kind, value), (rule.Mailbox, rule.Kind, rule.Value));
        Assert.Equal(rule.ToString(), MailboxRule.Parse(rule.ToString()).ToString());
    }

    [Fact]
    public void PortAndKeepCarryTheirNumbers()
    {
        Assert.Equal(2526, MailboxRule.Parse("ops=port:2526").Port);
        Assert.Equal(500, MailboxRule.Parse("dev=keep:500").Keep);
        Assert.Equal(0, MailboxRule.Parse("dev=keep:500").Port);
    }

    [Theory]
    [InlineData("dev", "is not NAME=RULE")]
    [InlineData("=to:@x.example", "is not a mailbox name")]
    [InlineData("-dev=to:@x.example", "is not a mailbox name")]
    [InlineData("dev box=to:@x.example", "is not a mailbox name")]
    [InlineData("dev=@x.example", "is not KIND:VALUE")]
    [InlineData("dev=to:", "is not KIND:VALUE")]
    [InlineData("dev=from:@x.example", "'from' is not a rule kind")]
    [InlineData("dev=to:alice", "is not an address")]
    [InlineData("dev=to:@", "is not @DOMAIN")]
    [InlineData("dev=to:@a@b", "is not @DOMAIN")]
    [InlineData("dev=port:0", "is not a port from 1 to 65535")]
    [InlineData("dev=port:65536", "is not a port from 1 to 65535")]
    [InlineData("dev=port:-1", "is not a port from 1 to 65535")]
    [InlineData("dev=keep:0", "is not a whole number of messages, 1 or more")]
    [InlineData("dev=keep:many", "is not a whole number of messages, 1 or more")]
    public void AnInvalidRuleIsRefusedWithAOneLineReason(string text, string reason)
    {
        var error = Assert.Throws<FormatException>(() => MailboxRule.Parse(text));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void ANameLongerThanTheLimitIsRefused()
    {
        Assert.True(MailboxRule.IsValidName(new string('a', MailboxRule.MaxNameLength)));
        Assert.Throws<FormatException>(() => MailboxRule.Parse(new string('a', MailboxRule.MaxNameLength + 1) + "=to:@x.example"));
    }

    [Fact]
    public void AMailboxWithOnlyAKeepRuleCannotBeReachedAndIsRefused()
    {
        var error = Assert.Throws<FormatException>(() => MailboxRouter.Create([MailboxRule.Parse("dev=keep:5")]));
        Assert.Contains("mailbox dev has only keep:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TwoDifferentKeepRulesForOneMailboxAreRefused()
    {
        var error = Assert.Throws<FormatException>(() => MailboxRouter.Create(
            [MailboxRule.Parse("dev=to:@dev.example"), MailboxRule.Parse("dev=keep:5"), MailboxRule.Parse("dev=keep:6")]));
        Assert.Contains("two keep rules", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheCatcherRefusesToStartWithRulesThatDoNotFitTogether()
    {
        var options = new CatcherOptions();
        options.Listeners.Add(new SmtpListener(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0)));
        options.Mailboxes.Add(MailboxRule.Parse("dev=keep:5"));
        await using var catcher = new MailCatcher(options);
        var error = Assert.Throws<CatcherConfigurationException>(catcher.Start);
        Assert.Equal(nameof(CatcherOptions.Mailboxes), error.Setting);
    }

    [Fact]
    public void RoutingMatchesRecipientsInAnyCaseDomainsExactlyUsersAndPorts()
    {
        var router = MailboxRouter.Create(
        [
            MailboxRule.Parse("dev=to:@dev.example"),
            MailboxRule.Parse("alice=to:alice@example.com"),
            MailboxRule.Parse("ci=user:ci"),
            MailboxRule.Parse("ops=port:2526"),
        ]);
        Assert.Equal(["alice", "dev"], router.Route(Record(["Bob@DEV.example", "ALICE@example.com"])));
        // A subdomain is another domain; a longer domain that ends alike is not the domain.
        Assert.Empty(router.Route(Record(["bob@sub.dev.example", "bob@notdev.example"])));
        Assert.Equal(["ci"], router.Route(Record(["x@y.example"], user: "ci")));
        Assert.Empty(router.Route(Record(["x@y.example"], user: "CI")));
        Assert.Equal(["ops"], router.Route(Record(["x@y.example"], port: 2526)));
        Assert.Equal(["alice", "ci", "dev", "ops"], router.Route(Record(["alice@example.com", "b@dev.example"], "ci", 2526)));
    }

    private static Smtpd.Catcher.Storage.MessageRecord Record(string[] recipients, string? user = null, int? port = null) => new()
    {
        ReceivedAt = DateTimeOffset.UnixEpoch,
        MailFrom = "sender@example.com",
        Recipients = recipients,
        Client = "127.0.0.1:1",
        Size = 0,
        Sha256 = string.Empty,
        User = user,
        ListenerPort = port,
    };
}
