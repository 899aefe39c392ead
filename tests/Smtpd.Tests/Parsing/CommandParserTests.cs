using System.Text;
using Smtpd.Parsing;
using Smtpd.Protocol;
using Smtpd.Protocol.Commands;

namespace Smtpd.Tests.Parsing;

/// <summary>
/// <see cref="CommandParser"/>. Every line is parsed as given and also after travelling through
/// <see cref="CommandLineReader"/> fed the three ways (with its CRLF), and both must agree.
/// </summary>
public sealed class CommandParserTests
{
    private static SmtpCommand Parse(string line, bool smtpUtf8 = false) => Parse(Encoding.UTF8.GetBytes(line), smtpUtf8);

    private static SmtpCommand Parse(byte[] line, bool smtpUtf8 = false)
    {
        var direct = CommandFeeds.ParseEveryWay(line, l => CommandParser.Parse(l, smtpUtf8));

        // A session's parse reuses its commands and mailboxes: cold and warm, it must read the same as a fresh parse.
        var cache = new CommandCache();
        Assert.Equal(Describe(direct), Describe(CommandParser.Parse(line, smtpUtf8, dsn: false, cache)));
        Assert.Equal(Describe(direct), Describe(CommandParser.Parse(line, smtpUtf8, dsn: false, cache)));
        return direct;
    }

    private static string Describe(SmtpCommand command) => CommandFeeds.Describe(command);

    private static SmtpReply InvalidReply(SmtpCommand command, SmtpVerb verb)
    {
        var invalid = Assert.IsType<InvalidCommand>(command);
        Assert.Equal(verb, invalid.Verb);
        return invalid.Reply;
    }

    private static void AssertReply(SmtpReply reply, int code, string enhanced, string textContains)
    {
        Assert.Equal(code, reply.Code);
        Assert.Equal(enhanced, reply.EnhancedStatusCode);
        Assert.Contains(textContains, reply.Text, StringComparison.Ordinal);
    }

    // ---- Verb dispatch ----

    public static TheoryData<string, string, Type> AllVerbs => new()
    {
        { "HELO client.example", "Helo", typeof(HeloCommand) },
        { "EHLO client.example", "Ehlo", typeof(HeloCommand) },
        { "MAIL FROM:<a@example.com>", "Mail", typeof(MailCommand) },
        { "RCPT TO:<b@example.com>", "Rcpt", typeof(RcptCommand) },
        { "DATA", "Data", typeof(DataCommand) },
        { "BDAT 1", "Bdat", typeof(BdatCommand) },
        { "RSET", "Rset", typeof(RsetCommand) },
        { "NOOP", "Noop", typeof(NoopCommand) },
        { "QUIT", "Quit", typeof(QuitCommand) },
        { "VRFY someone", "Vrfy", typeof(VrfyCommand) },
        { "EXPN list", "Expn", typeof(ExpnCommand) },
        { "HELP", "Help", typeof(HelpCommand) },
    };

    [Theory]
    [MemberData(nameof(AllVerbs))]
    public void EveryVerbIsDispatchedInAnyLetterCase(string line, string verbName, Type type)
    {
        var verb = Enum.Parse<SmtpVerb>(verbName);
        var verbText = line[..4];
        var rest = line[4..];
        var mixed = string.Concat(verbText.Select((c, i) => i % 2 == 0 ? char.ToLowerInvariant(c) : c));
        foreach (var spelled in new[] { verbText, verbText.ToLowerInvariant(), mixed })
        {
            var command = Parse(spelled + rest);

            Assert.IsType(type, command);
            Assert.Equal(verb, command.Verb);
            Assert.Equal(verb, CommandParser.ParseVerb(Encoding.ASCII.GetBytes(spelled + rest)));
        }
    }

    [Fact]
    public void EhloAndHeloAreTellApart()
    {
        Assert.True(Assert.IsType<HeloCommand>(Parse("EHLO client.example")).IsExtended);
        Assert.False(Assert.IsType<HeloCommand>(Parse("HELO client.example")).IsExtended);
    }

    [Theory]
    [InlineData("")]
    [InlineData("MAI")]
    [InlineData("MAILX")]
    [InlineData("MAILX FROM:<a@example.com>")]
    [InlineData("XMAIL FROM:<a@example.com>")]
    [InlineData(" MAIL FROM:<a@example.com>")]
    [InlineData("MAIL\tFROM:<a@example.com>")]
    [InlineData("MAIL:FROM:<a@example.com>")]
    [InlineData("STARTTLSX")]
    [InlineData("STARTTL")]
    [InlineData("AUTHX PLAIN AGFAAGI=")]
    [InlineData("MAİL FROM:<a@example.com>")]
    [InlineData("ＭＡＩＬ FROM:<a@example.com>")]
    [InlineData("MÄIL FROM:<a@example.com>")]
    [InlineData("DATÄ")]
    [InlineData("QU\0T")]
    [InlineData("1234")]
    [InlineData("@@@@")]
    public void UnknownVerbsAreUnknownCommands(string line)
    {
        var command = Parse(line);

        Assert.Same(UnknownCommand.Instance, command);
        Assert.Equal(SmtpVerb.Unknown, command.Verb);
        Assert.Equal(SmtpVerb.Unknown, CommandParser.ParseVerb(Encoding.UTF8.GetBytes(line)));
    }

    [Fact]
    public void NonAsciiOctetsThatDifferFromALetterOnlyInTheCaseBitAreNoVerb()
    {
        // "| 0x20" folds only A-Z; 0xCD | 0x20 is 0xED, never 'm'.
        byte[] line = [0xCD, (byte)'A', (byte)'I', (byte)'L'];

        Assert.Same(UnknownCommand.Instance, Parse(line));
    }

    // ---- Argument rules ----

    [Theory]
    [InlineData("DATA x", "Data")]
    [InlineData("DATA <a@example.com>", "Data")]
    [InlineData("RSET now", "Rset")]
    [InlineData("QUIT please", "Quit")]
    public void DataRsetAndQuitTakeNoArguments(string line, string verb)
    {
        Assert.Same(SmtpReplies.NoArgumentsAllowed, InvalidReply(Parse(line), Enum.Parse<SmtpVerb>(verb)));
        AssertReply(SmtpReplies.NoArgumentsAllowed, 501, "5.5.4", "no arguments");
    }

    [Theory]
    [InlineData("DATA ")]
    [InlineData("RSET   ")]
    [InlineData("QUIT ")]
    public void TrailingSpacesAreNotAnArgument(string line)
    {
        Assert.IsNotType<InvalidCommand>(Parse(line));
    }

    [Theory]
    [InlineData("NOOP")]
    [InlineData("NOOP hello")]
    [InlineData("noop anything at all: <x@y> SIZE=1")]
    public void NoopAcceptsAndIgnoresAString(string line)
    {
        Assert.Same(NoopCommand.Instance, Parse(line));
    }

    [Theory]
    [InlineData("VRFY")]
    [InlineData("VRFY ")]
    [InlineData("VRFY    ")]
    public void VrfyWithoutArgumentIs501(string line)
    {
        Assert.Same(SmtpReplies.VrfyRequiresArgument, InvalidReply(Parse(line), SmtpVerb.Vrfy));
        AssertReply(SmtpReplies.VrfyRequiresArgument, 501, "5.5.4", "VRFY");
    }

    [Theory]
    [InlineData("HELO")]
    [InlineData("EHLO")]
    [InlineData("HELO ")]
    [InlineData("EHLO    ")]
    public void HeloAndEhloWithoutDomainAre501(string line)
    {
        var command = Parse(line);

        Assert.Same(SmtpReplies.HeloRequiresDomain, InvalidReply(command, CommandParser.ParseVerb(Encoding.ASCII.GetBytes(line))));
        AssertReply(SmtpReplies.HeloRequiresDomain, 501, "5.5.4", "domain");
    }

    [Fact]
    public void EhloWithInvalidUtf8DomainIs501()
    {
        byte[] line = [.. "EHLO bad"u8, 0xFF, .. ".example"u8];

        Assert.Same(SmtpReplies.HeloRequiresDomain, InvalidReply(Parse(line), SmtpVerb.Ehlo));
    }

    [Theory]
    [InlineData("EHLO client.example", "client.example")]
    [InlineData("EHLO   client.example", "client.example")]
    [InlineData("EHLO client.example trailing words", "client.example")]
    [InlineData("HELO [192.0.2.1]", "[192.0.2.1]")]
    [InlineData("EHLO MY_PC", "MY_PC")]
    [InlineData("EHLO bücher.example", "bücher.example")]
    public void HeloKeepsTheFirstWordAsTheDomain(string line, string domain)
    {
        Assert.Equal(domain, Assert.IsType<HeloCommand>(Parse(line)).Domain);
    }

    // ---- Control characters ----

    public static TheoryData<string, string> ControlCharacterLines
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var c in new[] { '\0', '\r', '\x01', '\b', '\t', '\v', '\f', '\x1B', '\x1F', '\x7F' })
            {
                data.Add($"MAIL FROM:<a{c}b@example.com>", "Mail");
                data.Add($"RCPT TO:<b{c}@example.com>", "Rcpt");
                data.Add($"NOOP a{c}b", "Noop");
                data.Add($"EHLO client{c}.example", "Ehlo");
                data.Add($"QUIT {c} ", "Quit");
                data.Add($"BDAT 1{c} LAST", "Bdat");
                data.Add($"VRFY a{c}b", "Vrfy");
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(ControlCharacterLines))]
    public void ControlCharactersInsideACommandAre501InvalidCharacters(string line, string verb)
    {
        Assert.Same(SmtpReplies.InvalidCharacters, InvalidReply(Parse(line), Enum.Parse<SmtpVerb>(verb)));
        AssertReply(SmtpReplies.InvalidCharacters, 501, "5.5.2", "invalid characters");
    }

    [Fact]
    public void OnlyOneFinalCarriageReturnIsTheLineEnd()
    {
        // "NOOP x" CR CR LF: the reader keeps "NOOP x\r\r"; the parser removes one CR and the other is bare.
        Assert.Same(SmtpReplies.InvalidCharacters, InvalidReply(CommandParser.Parse("NOOP x\r\r"u8, false), SmtpVerb.Noop));
        Assert.Same(NoopCommand.Instance, CommandParser.Parse("NOOP x\r"u8, false));
        Assert.Same(NoopCommand.Instance, CommandParser.Parse("NOOP x"u8, false));
    }

    // ---- MAIL ----

    [Theory]
    [InlineData("MAIL FROM:<>")]
    [InlineData("MAIL FROM: <>")]
    [InlineData("mail from:<>")]
    public void MailAcceptsTheNullReversePath(string line)
    {
        var mail = Assert.IsType<MailCommand>(Parse(line));

        Assert.Null(mail.Sender);
        Assert.Null(mail.DeclaredSize);
        Assert.Equal(SmtpBodyType.SevenBit, mail.Body);
        Assert.False(mail.SmtpUtf8);
    }

    [Theory]
    [InlineData("MAIL FROM:<alice@example.com>")]
    [InlineData("MAIL FROM: <alice@example.com>")]
    [InlineData("MAIL FROM:    <alice@example.com>")]
    [InlineData("Mail From:<alice@example.com>")]
    [InlineData("MAIL FROM:<alice@example.com>   ")]
    [InlineData("MAIL FROM:<@relay.example:alice@example.com>")]
    public void MailAcceptsAPathWithSpacesAfterTheColon(string line)
    {
        var sender = Assert.IsType<MailCommand>(Parse(line)).Sender;

        Assert.NotNull(sender);
        Assert.Equal("alice", sender.LocalPart);
        Assert.Equal("example.com", sender.Domain);
    }

    [Theory]
    [InlineData("MAIL")]
    [InlineData("MAIL FROM <alice@example.com>")]
    [InlineData("MAIL TO:<alice@example.com>")]
    [InlineData("MAIL FRO:<alice@example.com>")]
    [InlineData("MAIL  FROM:<alice@example.com>")]
    public void MailWithoutFromColonIs501MailSyntax(string line)
    {
        Assert.Same(SmtpReplies.MailSyntax, InvalidReply(Parse(line), SmtpVerb.Mail));
        AssertReply(SmtpReplies.MailSyntax, 501, "5.5.4", "MAIL FROM:<address>");
    }

    [Theory]
    [InlineData("MAIL FROM:")]
    [InlineData("MAIL FROM:alice@example.com")]
    [InlineData("MAIL FROM:<alice>")]
    [InlineData("MAIL FROM:<alice@>")]
    [InlineData("MAIL FROM:<alice@example.com")]
    [InlineData("MAIL FROM:<<alice@example.com>>")]
    public void MailWithABadPathIs501BadSenderAddress(string line)
    {
        Assert.Same(SmtpReplies.BadSenderAddress, InvalidReply(Parse(line), SmtpVerb.Mail));
        AssertReply(SmtpReplies.BadSenderAddress, 501, "5.1.7", "sender");
    }

    [Fact]
    public void MailWithA65OctetLocalPartIs501LocalPartTooLong()
    {
        var reply = InvalidReply(Parse($"MAIL FROM:<{new string('a', 65)}@example.com>"), SmtpVerb.Mail);

        AssertReply(reply, 501, "5.1.3", "Local part too long");
    }

    [Fact]
    public void MailWithAPathOver256OctetsIs501PathTooLong()
    {
        var domain = string.Join('.', Enumerable.Repeat(new string('d', 60), 4)); // 243 octets
        var reply = InvalidReply(Parse($"MAIL FROM:<{new string('a', 20)}@{domain}>"), SmtpVerb.Mail);

        AssertReply(reply, 501, "5.1.3", "Path too long");
    }

    [Fact]
    public void MailWithADomainOver255OctetsIs501DomainTooLong()
    {
        var domain = string.Join('.', Enumerable.Repeat(new string('d', 63), 5)); // 319 octets
        var reply = InvalidReply(Parse($"MAIL FROM:<a@{domain}>"), SmtpVerb.Mail);

        AssertReply(reply, 501, "5.1.3", "Domain too long");
    }

    [Theory]
    [InlineData("SIZE=0", 0L)]
    [InlineData("SIZE=12345", 12345L)]
    [InlineData("size=12345", 12345L)]
    [InlineData("SIZE=00000000000000000042", 42L)]
    [InlineData("SIZE=922337203685477579", 922337203685477579L)]
    [InlineData("SIZE=9223372036854775799", 9223372036854775799L)]
    [InlineData("SIZE=9223372036854775807", long.MaxValue)]
    [InlineData("SIZE=9223372036854775808", long.MaxValue)]
    [InlineData("SIZE=99999999999999999999", long.MaxValue)]
    public void MailSizeIsParsedAndOverflowSaturatesAtLongMaxValue(string parameter, long expected)
    {
        var mail = Assert.IsType<MailCommand>(Parse("MAIL FROM:<a@example.com> " + parameter));

        Assert.Equal(expected, mail.DeclaredSize);
    }

    [Theory]
    [InlineData("SIZE=9223372036854775800", 9223372036854775800L)]
    [InlineData("SIZE=9223372036854775806", 9223372036854775806L)]
    public void MailSizeJustBelowLongMaxValueIsExactBecauseItDoesNotOverflow(string parameter, long expected)
    {
        // MailCommand.DeclaredSize: "long.MaxValue when the declared number overflows"; these do not.
        var mail = Assert.IsType<MailCommand>(Parse("MAIL FROM:<a@example.com> " + parameter));

        Assert.Equal(expected, mail.DeclaredSize);
    }

    [Theory]
    [InlineData("SIZE")]
    [InlineData("SIZE=abc")]
    [InlineData("SIZE=12k")]
    [InlineData("SIZE=-1")]
    [InlineData("SIZE=+1")]
    [InlineData("SIZE=1.5")]
    [InlineData("SIZE=123456789012345678901")]
    [InlineData("SIZE=000000000000000000001")]
    public void MailSizeThatIsNotOneToTwentyDigitsIs501BadParameterValue(string parameter)
    {
        Assert.Same(SmtpReplies.BadParameterValue, InvalidReply(Parse("MAIL FROM:<a@example.com> " + parameter), SmtpVerb.Mail));
        AssertReply(SmtpReplies.BadParameterValue, 501, "5.5.4", "parameter value");
    }

    [Theory]
    [InlineData("SIZE=1 SIZE=2")]
    [InlineData("SIZE=1 SIZE=1")]
    [InlineData("SIZE=1 size=x")]
    [InlineData("BODY=7BIT BODY=8BITMIME")]
    [InlineData("SMTPUTF8 SMTPUTF8")]
    [InlineData("SIZE=5 BODY=8BITMIME SMTPUTF8 smtputf8")]
    public void MailWithADuplicateParameterIs501(string parameters)
    {
        Assert.Same(SmtpReplies.DuplicateParameter, InvalidReply(Parse("MAIL FROM:<a@example.com> " + parameters), SmtpVerb.Mail));
        AssertReply(SmtpReplies.DuplicateParameter, 501, "5.5.4", "duplicate");
    }

    [Theory]
    [InlineData("BODY=7BIT", SmtpBodyType.SevenBit)]
    [InlineData("BODY=8BITMIME", SmtpBodyType.EightBitMime)]
    [InlineData("body=8bitmime", SmtpBodyType.EightBitMime)]
    [InlineData("BODY=BINARYMIME", SmtpBodyType.BinaryMime)]
    [InlineData("Body=BinaryMime", SmtpBodyType.BinaryMime)]
    public void MailBodyParameterSetsTheBodyType(string parameter, SmtpBodyType body)
    {
        Assert.Equal(body, Assert.IsType<MailCommand>(Parse("MAIL FROM:<a@example.com> " + parameter)).Body);
    }

    [Theory]
    [InlineData("BODY")]
    [InlineData("BODY=8BIT")]
    [InlineData("BODY=9BITMIME")]
    [InlineData("BODY=7BITX")]
    [InlineData("BODY=BINARY")]
    public void MailWithAnUnknownBodyIs501BadParameterValue(string parameter)
    {
        Assert.Same(SmtpReplies.BadParameterValue, InvalidReply(Parse("MAIL FROM:<a@example.com> " + parameter), SmtpVerb.Mail));
    }

    [Fact]
    public void MailTakesAllKnownParametersTogether()
    {
        var mail = Assert.IsType<MailCommand>(Parse("MAIL FROM:<a@example.com> SIZE=100  BODY=8BITMIME smtputf8"));

        Assert.Equal(100, mail.DeclaredSize);
        Assert.Equal(SmtpBodyType.EightBitMime, mail.Body);
        Assert.True(mail.SmtpUtf8);
    }

    [Fact]
    public void MailWithSmtpUtf8AndAnAsciiPathIsAccepted()
    {
        var mail = Assert.IsType<MailCommand>(Parse("MAIL FROM:<a@example.com> SMTPUTF8"));

        Assert.True(mail.SmtpUtf8);
        Assert.False(mail.Sender!.IsInternationalized);
    }

    [Theory]
    [InlineData("MAIL FROM:<用户@例子.广告> SMTPUTF8", "用户", "例子.广告")]
    [InlineData("MAIL FROM:<jörg@example.com> SMTPUTF8", "jörg", "example.com")]
    [InlineData("MAIL FROM:<a@bücher.example> SMTPUTF8", "a", "bücher.example")]
    public void MailWithSmtpUtf8AcceptsAUtf8Path(string line, string localPart, string domain)
    {
        var mail = Assert.IsType<MailCommand>(Parse(line));

        Assert.True(mail.SmtpUtf8);
        Assert.Equal(localPart, mail.Sender!.LocalPart);
        Assert.Equal(domain, mail.Sender.Domain);
        Assert.True(mail.Sender.IsInternationalized);
    }

    [Theory]
    [InlineData("MAIL FROM:<用户@例子.广告>")]
    [InlineData("MAIL FROM:<jörg@example.com>")]
    [InlineData("MAIL FROM:<a@bücher.example> SIZE=10")]
    public void MailWithAUtf8PathButNoSmtpUtf8Is553(string line)
    {
        Assert.Same(SmtpReplies.Utf8NeedsSmtpUtf8, InvalidReply(Parse(line), SmtpVerb.Mail));
        AssertReply(SmtpReplies.Utf8NeedsSmtpUtf8, 553, "5.6.7", "SMTPUTF8");
    }

    [Fact]
    public void MailSmtpUtf8WithAValueIs501BadParameterValue()
    {
        Assert.Same(SmtpReplies.BadParameterValue, InvalidReply(Parse("MAIL FROM:<a@example.com> SMTPUTF8=yes"), SmtpVerb.Mail));
    }

    [Fact]
    public void MailWithAnInvalidUtf8PathIs501EvenWithSmtpUtf8()
    {
        byte[] line = [.. "MAIL FROM:<a"u8, 0xC3, .. "@example.com> SMTPUTF8"u8];

        Assert.Same(SmtpReplies.BadSenderAddress, InvalidReply(Parse(line), SmtpVerb.Mail));
    }

    [Theory]
    [InlineData("FOO=bar")]
    [InlineData("X-FOO")]
    [InlineData("RET=HDRS")]
    [InlineData("ENVID=abc")]
    [InlineData("SIZE=10 FOO")]
    [InlineData("FOO=välue")]
    public void MailWithAnUnknownParameterIs555(string parameters)
    {
        Assert.Same(SmtpReplies.UnknownParameter, InvalidReply(Parse("MAIL FROM:<a@example.com> " + parameters), SmtpVerb.Mail));
        AssertReply(SmtpReplies.UnknownParameter, 555, "5.5.4", "parameter");
    }

    [Theory]
    [InlineData("MAIL FROM:<a@example.com>SIZE=10")]
    [InlineData("MAIL FROM:<>SIZE=10")]
    [InlineData("MAIL FROM:<a@example.com>x")]
    [InlineData("MAIL FROM:<a@example.com> =10")]
    [InlineData("MAIL FROM:<a@example.com> SIZE=")]
    [InlineData("MAIL FROM:<a@example.com> SIZE==10")]
    [InlineData("MAIL FROM:<a@example.com> SIZE=1=0")]
    [InlineData("MAIL FROM:<a@example.com> -SIZE=10")]
    [InlineData("MAIL FROM:<a@example.com> SI_ZE=10")]
    [InlineData("MAIL FROM:<a@example.com> SIZE=10 FO.O=1")]
    [InlineData("MAIL FROM:<a@example.com> SÎZE=10")]
    public void MailWithAMalformedParameterIs501MailSyntax(string line)
    {
        Assert.Same(SmtpReplies.MailSyntax, InvalidReply(Parse(line), SmtpVerb.Mail));
    }

    [Fact]
    public void MailWithAnInvalidUtf8ParameterValueIs501MailSyntax()
    {
        byte[] line = [.. "MAIL FROM:<a@example.com> FOO=a"u8, 0xFF];

        Assert.Same(SmtpReplies.MailSyntax, InvalidReply(Parse(line), SmtpVerb.Mail));
    }

    // ---- RCPT ----

    [Theory]
    [InlineData("RCPT TO:<bob@example.com>")]
    [InlineData("RCPT TO: <bob@example.com>")]
    [InlineData("rcpt to:  <bob@example.com>")]
    [InlineData("RCPT TO:<@relay.example,@relay2.example:bob@example.com>")]
    public void RcptAcceptsAForwardPath(string line)
    {
        var recipient = Assert.IsType<RcptCommand>(Parse(line)).Recipient;

        Assert.Equal("bob@example.com", recipient.Address);
        Assert.False(recipient.IsPostmaster);
    }

    [Theory]
    [InlineData("Postmaster")]
    [InlineData("postmaster")]
    [InlineData("POSTMASTER")]
    [InlineData("PostMaster")]
    [InlineData("pOSTMASTEr")]
    public void RcptAcceptsPostmasterWithoutDomainInAnyCase(string name)
    {
        var recipient = Assert.IsType<RcptCommand>(Parse($"RCPT TO:<{name}>")).Recipient;

        Assert.Equal(name, recipient.LocalPart);
        Assert.Equal("", recipient.Domain);
        Assert.Equal(name, recipient.Address);
        Assert.True(recipient.IsPostmaster);
    }

    [Fact]
    public void RcptAcceptsPostmasterWithADomain()
    {
        var recipient = Assert.IsType<RcptCommand>(Parse("RCPT TO:<postmaster@example.com>")).Recipient;

        Assert.Equal("example.com", recipient.Domain);
        Assert.True(recipient.IsPostmaster);
    }

    [Theory]
    [InlineData("RCPT TO:<>")]
    [InlineData("RCPT TO:")]
    [InlineData("RCPT TO:bob@example.com")]
    [InlineData("RCPT TO:<bob>")]
    [InlineData("RCPT TO:<Postmasters>")]
    [InlineData("RCPT TO:<Postmaster@>")]
    [InlineData("RCPT TO:<bob@-example.com>")]
    public void RcptWithABadPathIs501BadRecipientAddress(string line)
    {
        Assert.Same(SmtpReplies.BadRecipientAddress, InvalidReply(Parse(line), SmtpVerb.Rcpt));
        AssertReply(SmtpReplies.BadRecipientAddress, 501, "5.1.3", "recipient");
    }

    [Theory]
    [InlineData("RCPT")]
    [InlineData("RCPT <bob@example.com>")]
    [InlineData("RCPT FROM:<bob@example.com>")]
    [InlineData("RCPT TO:<bob@example.com>x")]
    [InlineData("RCPT TO:<Postmaster>x")]
    [InlineData("RCPT TO:<bob@example.com> =x")]
    [InlineData("RCPT TO:<bob@example.com> NOTIFY=")]
    public void RcptWithBadSyntaxIs501RcptSyntax(string line)
    {
        Assert.Same(SmtpReplies.RcptSyntax, InvalidReply(Parse(line), SmtpVerb.Rcpt));
        AssertReply(SmtpReplies.RcptSyntax, 501, "5.5.4", "RCPT TO:<address>");
    }

    [Theory]
    [InlineData("RCPT TO:<bob@example.com> NOTIFY=NEVER")]
    [InlineData("RCPT TO:<bob@example.com> ORCPT=rfc822;bob@example.com")]
    [InlineData("RCPT TO:<bob@example.com> SIZE=10")]
    [InlineData("RCPT TO:<Postmaster> FOO")]
    public void RcptWithAnyParameterIs555WhenDsnIsDisabled(string line)
    {
        Assert.Same(SmtpReplies.UnknownParameter, InvalidReply(Parse(line), SmtpVerb.Rcpt));
    }

    [Theory]
    [InlineData("RCPT TO:<用户@例子.广告>", "用户", "例子.广告")]
    [InlineData("RCPT TO:<bob@bücher.example>", "bob", "bücher.example")]
    public void RcptAcceptsUtf8OnlyWhenTheTransactionHasSmtpUtf8(string line, string localPart, string domain)
    {
        Assert.Same(SmtpReplies.Utf8NeedsSmtpUtf8, InvalidReply(Parse(line, smtpUtf8: false), SmtpVerb.Rcpt));

        var recipient = Assert.IsType<RcptCommand>(Parse(line, smtpUtf8: true)).Recipient;
        Assert.Equal(localPart, recipient.LocalPart);
        Assert.Equal(domain, recipient.Domain);
    }

    [Fact]
    public void RcptWithAnInvalidUtf8PathIs501EvenWithSmtpUtf8()
    {
        byte[] line = [.. "RCPT TO:<bob@"u8, 0xE4, 0xBE, .. ".example>"u8];

        Assert.Same(SmtpReplies.BadRecipientAddress, InvalidReply(Parse(line, smtpUtf8: true), SmtpVerb.Rcpt));
    }

    // ---- BDAT ----

    [Theory]
    [InlineData("BDAT 0", 0L, false)]
    [InlineData("BDAT 10 LAST", 10L, true)]
    [InlineData("bdat 5 last", 5L, true)]
    [InlineData("BDAT 5 Last", 5L, true)]
    [InlineData("BDAT 0 LAST", 0L, true)]
    [InlineData("BDAT 000123", 123L, false)]
    [InlineData("BDAT 65536   ", 65536L, false)]
    [InlineData("BDAT 999999999999999999", 999999999999999999L, false)]
    public void BdatTakesAChunkSizeAndAnOptionalLast(string line, long size, bool isLast)
    {
        var bdat = Assert.IsType<BdatCommand>(Parse(line));

        Assert.Equal(size, bdat.Size);
        Assert.Equal(isLast, bdat.IsLast);
    }

    [Theory]
    [InlineData("BDAT")]
    [InlineData("BDAT ")]
    [InlineData("BDAT x")]
    [InlineData("BDAT -1")]
    [InlineData("BDAT +1")]
    [InlineData("BDAT 1.5")]
    [InlineData("BDAT 0x10")]
    [InlineData("BDAT LAST")]
    [InlineData("BDAT 5 NOTLAST")]
    [InlineData("BDAT 5 LASTX")]
    [InlineData("BDAT 5 LAST LAST")]
    [InlineData("BDAT 5  LAST")]
    [InlineData("BDAT  5")]
    [InlineData("BDAT 1234567890123456789")]
    [InlineData("BDAT 0000000000000000001")]
    [InlineData("BDAT 99999999999999999999999999 LAST")]
    public void BdatWithABadChunkSizeOrMarkerIs501(string line)
    {
        Assert.Same(SmtpReplies.BdatSyntax, InvalidReply(Parse(line), SmtpVerb.Bdat));
        AssertReply(SmtpReplies.BdatSyntax, 501, "5.5.4", "BDAT <size> [LAST]");
    }
    [Theory]
    [InlineData("STARTTLS")]
    [InlineData("starttls")]
    [InlineData("StartTls")]
    public void StartTlsIsRecognizedInAnyCase(string line) => Assert.Same(StartTlsCommand.Instance, Parse(line));

    [Fact]
    public void StartTlsWithAnArgumentIs501() =>
        Assert.Same(SmtpReplies.NoArgumentsAllowed, InvalidReply(Parse("STARTTLS now"), SmtpVerb.StartTls));

    [Theory]
    [InlineData("AUTH PLAIN", "PLAIN", null)]
    [InlineData("auth plain AGFAAGI=", "PLAIN", "AGFAAGI=")]
    [InlineData("AUTH cram-md5", "CRAM-MD5", null)]
    [InlineData("AUTH XOAUTH2 =", "XOAUTH2", "=")]
    public void AuthCarriesTheMechanismInUpperCaseAndTheInitialResponse(string line, string mechanism, string? initial)
    {
        var auth = Assert.IsType<AuthCommand>(Parse(line));
        Assert.Equal(mechanism, auth.Mechanism);
        Assert.Equal(initial, auth.InitialResponse);
    }

    [Theory]
    [InlineData("AUTH")]
    [InlineData("AUTH PLA!N")]
    [InlineData("AUTH PLAIN a b")]
    [InlineData("AUTH ABCDEFGHIJKLMNOPQRSTU")]
    public void MalformedAuthIs501(string line) =>
        Assert.Same(SmtpReplies.AuthSyntax, InvalidReply(Parse(line), SmtpVerb.Auth));

    [Theory]
    [InlineData("AUTH=<>")]
    [InlineData("AUTH=user+2Bx@example.com")]
    public void MailAcceptsTheAuthParameter(string parameter) =>
        Assert.IsType<MailCommand>(Parse("MAIL FROM:<a@example.com> " + parameter));
}
