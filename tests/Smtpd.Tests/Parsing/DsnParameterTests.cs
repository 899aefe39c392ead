using System.Text;
using Smtpd.Parsing;
using Smtpd.Protocol;
using Smtpd.Protocol.Commands;

namespace Smtpd.Tests.Parsing;

/// <summary>
/// The RFC 3461 parameters: <c>RET</c> and <c>ENVID</c> on MAIL, <c>NOTIFY</c> and <c>ORCPT</c> on RCPT, and the
/// xtext (and RFC 6533 utf-8) decoding behind ENVID and ORCPT. Every line is parsed as given and also after
/// travelling through <see cref="CommandLineReader"/> fed the three ways, and all must agree.
/// </summary>
public sealed class DsnParameterTests
{
    private const string Mail = "MAIL FROM:<a@example.com> ";
    private const string Rcpt = "RCPT TO:<b@example.com> ";

    private static SmtpCommand Parse(string line, bool dsn = true, bool smtpUtf8 = false) =>
        // Above the 512-octet default line limit: the longest ORCPT RFC 3461 allows does not fit in it.
        CommandFeeds.ParseEveryWay(Encoding.UTF8.GetBytes(line), l => CommandParser.Parse(l, smtpUtf8, dsn), lineLimit: 4096);

    private static SmtpReply InvalidReply(SmtpCommand command, SmtpVerb verb)
    {
        var invalid = Assert.IsType<InvalidCommand>(command);
        Assert.Equal(verb, invalid.Verb);
        return invalid.Reply;
    }

    private static MailCommand ParseMail(string parameters, bool smtpUtf8 = false) => Assert.IsType<MailCommand>(Parse(Mail + parameters, smtpUtf8: smtpUtf8));

    private static SmtpRecipientDsn ParseRcptDsn(string parameters, bool smtpUtf8 = false) =>
        Assert.IsType<RcptCommand>(Parse(Rcpt + parameters, smtpUtf8: smtpUtf8)).Recipient.Dsn ?? throw new InvalidOperationException("no DSN parameters");

    // ---- RET ----

    [Theory]
    [InlineData("RET=FULL", SmtpDsnReturn.Full)]
    [InlineData("RET=HDRS", SmtpDsnReturn.Headers)]
    [InlineData("ret=full", SmtpDsnReturn.Full)]
    [InlineData("Ret=Hdrs", SmtpDsnReturn.Headers)]
    public void RetIsFullOrHdrsInAnyLetterCase(string parameter, SmtpDsnReturn expected)
    {
        Assert.Equal(expected, ParseMail(parameter).DsnReturn);
    }

    [Theory]
    [InlineData("RET=HEADERS")]
    [InlineData("RET=FULLX")]
    [InlineData("RET=NONE")]
    [InlineData("RET")]
    public void RetWithAnotherValueIs501(string parameter)
    {
        var reply = InvalidReply(Parse(Mail + parameter), SmtpVerb.Mail);

        Assert.Same(SmtpReplies.DsnRetSyntax, reply);
        Assert.Equal((501, "5.5.4"), (reply.Code, reply.EnhancedStatusCode));
    }

    // ---- ENVID and xtext ----

    [Theory]
    [InlineData("ENVID=QQ314159", "QQ314159")]
    [InlineData("ENVID=a+2Bb", "a+b")]
    [InlineData("ENVID=x+3Dy", "x=y")]
    [InlineData("ENVID=two+20words", "two words")]
    [InlineData("ENVID=+41+42+43", "ABC")]
    [InlineData("ENVID=!\"#$%&'()*,-./:;<>?@[\\]^_`{|}~", "!\"#$%&'()*,-./:;<>?@[\\]^_`{|}~")]
    [InlineData("envid=lower-case-keyword", "lower-case-keyword")]
    public void EnvidIsDecodedFromXtext(string parameter, string expected)
    {
        Assert.Equal(expected, ParseMail(parameter).DsnEnvelopeId);
    }

    [Theory]
    [InlineData("+0D")]
    [InlineData("+0A")]
    [InlineData("+00")]
    [InlineData("+09")]
    [InlineData("+1B")]
    [InlineData("+1F")]
    [InlineData("+7F")]
    [InlineData("id+0D+0ARCPT")]
    public void XtextThatDecodesToAControlCharacterIsRefusedInEnvidAndOrcpt(string xtext)
    {
        Assert.Same(SmtpReplies.DsnControlCharacter, InvalidReply(Parse(Mail + "ENVID=" + xtext), SmtpVerb.Mail));
        Assert.Same(SmtpReplies.DsnControlCharacter, InvalidReply(Parse(Rcpt + "ORCPT=rfc822;" + xtext), SmtpVerb.Rcpt));
        Assert.Equal((501, "5.5.4"), (SmtpReplies.DsnControlCharacter.Code, SmtpReplies.DsnControlCharacter.EnhancedStatusCode));
    }

    [Theory]
    [InlineData("+0d")]
    [InlineData("+2b")]
    [InlineData("a+0a")]
    [InlineData("+")]
    [InlineData("ab+")]
    [InlineData("ab+4")]
    [InlineData("+G0")]
    [InlineData("+4G")]
    [InlineData("+ 41")]
    [InlineData("+C3+A9")]
    [InlineData("+80")]
    [InlineData("+FF")]
    [InlineData("caf\u00e9")]
    public void MalformedOrNonAsciiXtextIsRefused(string xtext)
    {
        // "+ 41" splits into two parameters: "ENVID=+" is malformed xtext before "41" is looked at.
        Assert.Same(SmtpReplies.DsnEnvidSyntax, InvalidReply(Parse(Mail + "ENVID=" + xtext), SmtpVerb.Mail));
        Assert.Same(SmtpReplies.DsnOrcptSyntax, InvalidReply(Parse(Rcpt + "ORCPT=rfc822;" + xtext), SmtpVerb.Rcpt));
    }

    [Fact]
    public void EnvidWithoutAValueIs501()
    {
        Assert.Same(SmtpReplies.DsnEnvidSyntax, InvalidReply(Parse(Mail + "ENVID"), SmtpVerb.Mail));
        Assert.Same(SmtpReplies.MailSyntax, InvalidReply(Parse(Mail + "ENVID="), SmtpVerb.Mail));
    }

    [Fact]
    public void EnvidMayHave100DecodedCharactersButNot101()
    {
        Assert.Equal(new string('e', 100), ParseMail("ENVID=" + new string('e', 100)).DsnEnvelopeId);
        // The limit counts decoded characters: 100 encoded pluses are 300 octets on the wire.
        Assert.Equal(new string('+', 100), ParseMail("ENVID=" + string.Concat(Enumerable.Repeat("+2B", 100))).DsnEnvelopeId);

        var reply = InvalidReply(Parse(Mail + "ENVID=" + new string('e', 101)), SmtpVerb.Mail);
        Assert.Same(SmtpReplies.DsnEnvidTooLong, reply);
        Assert.Equal((501, "5.5.4"), (reply.Code, reply.EnhancedStatusCode));
        Assert.Same(SmtpReplies.DsnEnvidTooLong, InvalidReply(Parse(Mail + "ENVID=" + string.Concat(Enumerable.Repeat("+2B", 101))), SmtpVerb.Mail));
    }

    // ---- NOTIFY ----

    [Theory]
    [InlineData("NOTIFY=NEVER", SmtpDsnNotify.Never)]
    [InlineData("NOTIFY=never", SmtpDsnNotify.Never)]
    [InlineData("NOTIFY=SUCCESS", SmtpDsnNotify.Success)]
    [InlineData("NOTIFY=FAILURE", SmtpDsnNotify.Failure)]
    [InlineData("NOTIFY=DELAY", SmtpDsnNotify.Delay)]
    [InlineData("NOTIFY=SUCCESS,FAILURE", SmtpDsnNotify.Success | SmtpDsnNotify.Failure)]
    [InlineData("NOTIFY=delay,Success", SmtpDsnNotify.Success | SmtpDsnNotify.Delay)]
    [InlineData("notify=FAILURE,DELAY,SUCCESS", SmtpDsnNotify.Success | SmtpDsnNotify.Failure | SmtpDsnNotify.Delay)]
    public void NotifyIsNeverOrAListOfSuccessFailureAndDelay(string parameter, SmtpDsnNotify expected)
    {
        var dsn = ParseRcptDsn(parameter);

        Assert.Equal(expected, dsn.Notify);
        Assert.Null(dsn.OriginalRecipientType);
        Assert.Null(dsn.OriginalRecipient);
    }

    [Theory]
    [InlineData("NOTIFY")]
    [InlineData("NOTIFY=ALWAYS")]
    [InlineData("NOTIFY=NEVER,SUCCESS")]
    [InlineData("NOTIFY=SUCCESS,NEVER")]
    [InlineData("NOTIFY=NEVER,NEVER")]
    [InlineData("NOTIFY=SUCCESS,SUCCESS")]
    [InlineData("NOTIFY=FAILURE,DELAY,failure")]
    [InlineData("NOTIFY=SUCCESS,")]
    [InlineData("NOTIFY=,SUCCESS")]
    [InlineData("NOTIFY=SUCCESS,,DELAY")]
    [InlineData("NOTIFY=SUCCESS;DELAY")]
    public void NotifyWithABadListIs501(string parameter)
    {
        var reply = InvalidReply(Parse(Rcpt + parameter), SmtpVerb.Rcpt);

        Assert.Same(SmtpReplies.DsnNotifySyntax, reply);
        Assert.Equal((501, "5.5.4"), (reply.Code, reply.EnhancedStatusCode));
    }

    // ---- ORCPT ----

    [Theory]
    [InlineData("ORCPT=rfc822;bob@example.com", "rfc822", "bob@example.com")]
    [InlineData("ORCPT=RFC822;bob+2Btag@example.com", "RFC822", "bob+tag@example.com")]
    [InlineData("orcpt=rfc822;\"two+20words\"@example.com", "rfc822", "\"two words\"@example.com")]
    [InlineData("ORCPT=x400;c+3Dus;a+3D;p+3Dacme;o+3Dsales;s+3Dsmith", "x400", "c=us;a=;p=acme;o=sales;s=smith")]
    [InlineData("ORCPT=x-local;anything", "x-local", "anything")]
    public void OrcptKeepsItsAddressTypeAndDecodesTheAddress(string parameter, string type, string address)
    {
        var dsn = ParseRcptDsn(parameter);

        Assert.Equal(SmtpDsnNotify.None, dsn.Notify);
        Assert.Equal(type, dsn.OriginalRecipientType);
        Assert.Equal(address, dsn.OriginalRecipient);
    }

    [Theory]
    [InlineData("ORCPT=rfc822")]
    [InlineData("ORCPT=;bob@example.com")]
    [InlineData("ORCPT=rfc822;")]
    [InlineData("ORCPT=rf(c822;bob@example.com")]
    [InlineData("ORCPT=rfc.822;bob@example.com")]
    [InlineData("ORCPT=r\u00e9c822;bob@example.com")]
    [InlineData("ORCPT")]
    public void OrcptWithoutAnAtomTypeSemicolonAndAddressIs501(string parameter)
    {
        var reply = InvalidReply(Parse(Rcpt + parameter, smtpUtf8: true), SmtpVerb.Rcpt);

        Assert.Same(SmtpReplies.DsnOrcptSyntax, reply);
        Assert.Equal((501, "5.5.4"), (reply.Code, reply.EnhancedStatusCode));
    }

    [Fact]
    public void OrcptMayHave500DecodedCharactersButNot501()
    {
        // The address is not checked against RFC 5322 (RFC 3461 4.2 has it passed on as the client wrote it).
        var address = new string('o', 488) + "@example.com";
        Assert.Equal(500, address.Length);

        Assert.Equal(address, ParseRcptDsn("ORCPT=rfc822;" + address).OriginalRecipient);
        Assert.Same(SmtpReplies.DsnOrcptTooLong, InvalidReply(Parse(Rcpt + "ORCPT=rfc822;x" + address), SmtpVerb.Rcpt));
        Assert.Equal(new string('+', 500), ParseRcptDsn("ORCPT=rfc822;" + string.Concat(Enumerable.Repeat("+2B", 500))).OriginalRecipient);
        Assert.Equal(new string('\u00e9', 500), ParseRcptDsn("ORCPT=utf-8;" + string.Concat(Enumerable.Repeat("\\x{E9}", 500))).OriginalRecipient);
        Assert.Same(SmtpReplies.DsnOrcptTooLong, InvalidReply(Parse(Rcpt + "ORCPT=utf-8;" + string.Concat(Enumerable.Repeat("\\x{E9}", 501))), SmtpVerb.Rcpt));
    }

    // ---- ORCPT with the RFC 6533 utf-8 address type ----

    [Theory]
    [InlineData("ORCPT=utf-8;bob@example.com", "bob@example.com")]
    [InlineData("ORCPT=UTF-8;j\\x{F6}rg@example.com", "j\u00f6rg@example.com")]
    [InlineData("ORCPT=utf-8;\\x{7528}\\x{6237}@\\x{4F8B}\\x{5B50}.\\x{5E7F}\\x{544A}", "\u7528\u6237@\u4f8b\u5b50.\u5e7f\u544a")]
    [InlineData("ORCPT=utf-8;a\\x{2B}b\\x{3D}c\\x{5C}d\\x{20}e@example.com", "a+b=c\\d e@example.com")]
    [InlineData("ORCPT=utf-8;lower\\x{e9}hex@example.com", "lower\u00e9hex@example.com")]
    [InlineData("ORCPT=utf-8;emoji\\x{1F600}@example.com", "emoji\U0001F600@example.com")]
    public void Utf8OrcptDecodesEmbeddedUnicodeCharacters(string parameter, string address)
    {
        var dsn = ParseRcptDsn(parameter);

        Assert.Equal(address, dsn.OriginalRecipient);
        Assert.Equal("utf-8", dsn.OriginalRecipientType, ignoreCase: true);
    }

    [Fact]
    public void Utf8OrcptTakesRawUtf8OnlyWhenTheTransactionHasSmtpUtf8()
    {
        const string parameter = "ORCPT=utf-8;j\u00f6rg@b\u00fccher.example";

        Assert.Equal("j\u00f6rg@b\u00fccher.example", ParseRcptDsn(parameter, smtpUtf8: true).OriginalRecipient);
        Assert.Same(SmtpReplies.DsnOrcptSyntax, InvalidReply(Parse(Rcpt + parameter, smtpUtf8: false), SmtpVerb.Rcpt));
    }

    [Theory]
    [InlineData("a+b@example.com")]
    [InlineData("a\\b@example.com")]
    [InlineData("\\X{41}")]
    [InlineData("\\x41")]
    [InlineData("\\x{}")]
    [InlineData("\\x{41")]
    [InlineData("\\x{041}")]
    [InlineData("\\x{1234567}")]
    [InlineData("\\x{110000}")]
    [InlineData("\\x{D800}")]
    [InlineData("\\x{4G}")]
    public void Utf8OrcptWithBadEscapesIs501(string text)
    {
        Assert.Same(SmtpReplies.DsnOrcptSyntax, InvalidReply(Parse(Rcpt + "ORCPT=utf-8;" + text, smtpUtf8: true), SmtpVerb.Rcpt));
    }

    [Theory]
    [InlineData("\\x{D}")]
    [InlineData("\\x{A}")]
    [InlineData("\\x{1}")]
    [InlineData("\\x{7F}")]
    [InlineData("\\x{85}")]
    [InlineData("\\x{9F}")]
    [InlineData("\\x{2028}")]
    [InlineData("\\x{2029}")]
    [InlineData("a\u0085b")]
    public void Utf8OrcptThatDecodesToAControlCharacterIsRefused(string text)
    {
        Assert.Same(SmtpReplies.DsnControlCharacter, InvalidReply(Parse(Rcpt + "ORCPT=utf-8;" + text, smtpUtf8: true), SmtpVerb.Rcpt));
    }

    // ---- Together, duplicates, the wrong command, and DSN off ----

    [Fact]
    public void DsnParametersCombineWithTheOthersInAnyOrder()
    {
        var mail = ParseMail("ENVID=id+2B1 SMTPUTF8 RET=HDRS SIZE=42 BODY=8BITMIME", smtpUtf8: false);
        Assert.Equal((SmtpDsnReturn.Headers, "id+1", 42L, SmtpBodyType.EightBitMime, true), (mail.DsnReturn, mail.DsnEnvelopeId, mail.DeclaredSize, mail.Body, mail.SmtpUtf8));

        var dsn = ParseRcptDsn("ORCPT=rfc822;b@example.com NOTIFY=FAILURE,DELAY");
        Assert.Equal((SmtpDsnNotify.Failure | SmtpDsnNotify.Delay, "rfc822", "b@example.com"), (dsn.Notify, dsn.OriginalRecipientType, dsn.OriginalRecipient));
    }

    [Fact]
    public void CommandsWithoutDsnParametersCarryNone()
    {
        foreach (var dsn in new[] { true, false })
        {
            var mail = Assert.IsType<MailCommand>(Parse("MAIL FROM:<a@example.com> SIZE=10", dsn));
            Assert.Equal(SmtpDsnReturn.None, mail.DsnReturn);
            Assert.Null(mail.DsnEnvelopeId);
            Assert.Null(Assert.IsType<RcptCommand>(Parse("RCPT TO:<b@example.com>", dsn)).Recipient.Dsn);
        }
    }

    [Theory]
    [InlineData("MAIL", "RET=FULL RET=FULL")]
    [InlineData("MAIL", "RET=FULL RET=HDRS")]
    [InlineData("MAIL", "ENVID=a ENVID=a")]
    [InlineData("MAIL", "ENVID=a SIZE=1 envid=b")]
    [InlineData("RCPT", "NOTIFY=NEVER NOTIFY=NEVER")]
    [InlineData("RCPT", "NOTIFY=SUCCESS NOTIFY=DELAY")]
    [InlineData("RCPT", "ORCPT=rfc822;b@example.com ORCPT=rfc822;b@example.com")]
    [InlineData("RCPT", "ORCPT=rfc822;b@example.com NOTIFY=NEVER orcpt=utf-8;c@example.com")]
    public void ADuplicateDsnParameterIs501(string verb, string parameters)
    {
        var reply = verb == "MAIL"
            ? InvalidReply(Parse(Mail + parameters), SmtpVerb.Mail)
            : InvalidReply(Parse(Rcpt + parameters), SmtpVerb.Rcpt);

        Assert.Same(SmtpReplies.DuplicateParameter, reply);
        Assert.Equal((501, "5.5.4"), (reply.Code, reply.EnhancedStatusCode));
    }

    [Theory]
    [InlineData("NOTIFY=NEVER")]
    [InlineData("NOTIFY=SUCCESS")]
    [InlineData("ORCPT=rfc822;a@example.com")]
    [InlineData("SIZE=10 notify=FAILURE")]
    public void RcptParametersOnMailAre555(string parameters)
    {
        var reply = InvalidReply(Parse(Mail + parameters), SmtpVerb.Mail);

        Assert.Same(SmtpReplies.DsnRcptParameterOnMail, reply);
        Assert.Equal((555, "5.5.4"), (reply.Code, reply.EnhancedStatusCode));
    }

    [Theory]
    [InlineData("RET=FULL")]
    [InlineData("RET=HDRS")]
    [InlineData("ENVID=abc")]
    [InlineData("NOTIFY=NEVER envid=abc")]
    public void MailParametersOnRcptAre555(string parameters)
    {
        var reply = InvalidReply(Parse(Rcpt + parameters), SmtpVerb.Rcpt);

        Assert.Same(SmtpReplies.DsnMailParameterOnRcpt, reply);
        Assert.Equal((555, "5.5.4"), (reply.Code, reply.EnhancedStatusCode));
    }

    [Theory]
    [InlineData("MAIL", "RET=FULL")]
    [InlineData("MAIL", "ENVID=abc")]
    [InlineData("MAIL", "RET=BOGUS")]
    [InlineData("MAIL", "NOTIFY=NEVER")]
    [InlineData("RCPT", "NOTIFY=NEVER")]
    [InlineData("RCPT", "NOTIFY=BOGUS")]
    [InlineData("RCPT", "ORCPT=rfc822;a@example.com")]
    [InlineData("RCPT", "RET=FULL")]
    public void EveryDsnParameterIsAnUnknown555WhenDsnIsDisabled(string verb, string parameters)
    {
        var reply = verb == "MAIL"
            ? InvalidReply(Parse(Mail + parameters, dsn: false), SmtpVerb.Mail)
            : InvalidReply(Parse(Rcpt + parameters, dsn: false), SmtpVerb.Rcpt);

        Assert.Same(SmtpReplies.UnknownParameter, reply);
    }

    [Theory]
    [InlineData("FOO=bar")]
    [InlineData("NOTIFY=NEVER SIZE=10")]
    [InlineData("X-DSN")]
    public void OtherRcptParametersStay555WhenDsnIsEnabled(string parameters)
    {
        Assert.Same(SmtpReplies.UnknownParameter, InvalidReply(Parse(Rcpt + parameters), SmtpVerb.Rcpt));
    }

    [Fact]
    public void AMalformedParameterAfterDsnParametersIsRcptSyntax()
    {
        Assert.Same(SmtpReplies.RcptSyntax, InvalidReply(Parse(Rcpt + "NOTIFY=NEVER =x"), SmtpVerb.Rcpt));
        Assert.Same(SmtpReplies.MailSyntax, InvalidReply(Parse(Mail + "RET=FULL =x"), SmtpVerb.Mail));
    }
}
