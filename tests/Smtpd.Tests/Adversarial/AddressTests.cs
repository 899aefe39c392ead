namespace Smtpd.Tests.Adversarial;

/// <summary>
/// Issue 7's address list end to end: what the client sends, the exact reply, and the envelope the delivery callback
/// gets. The grammar itself is tested rule by rule in <c>Parsing/PathGrammarTests</c>.
/// </summary>
public sealed class AddressTests
{
    [Fact]
    public async Task TheAcceptedFormsReachTheCallbackAsTheRfcSaysTheyShould()
    {
        await using var server = TestServer.Start();
        var script =
            "EHLO client.test\r\n"
            + "MAIL FROM:<>\r\n"
            + "RCPT TO:<@relay1.example,@relay2.example:routed@final.example>\r\n"
            + "RCPT TO:<\"john q. doe\"@example.com>\r\n"
            + "RCPT TO:<\"a\\\"b\\\\c\"@example.com>\r\n"
            + "RCPT TO:<literal@[IPv6:2001:db8::1]>\r\n"
            + "RCPT TO:<literal4@[192.0.2.1]>\r\n"
            + "RCPT TO:<Postmaster>\r\n"
            + "RCPT TO:<POSTMASTER@example.com>\r\n"
            + "RCPT TO:<" + new string('l', 64) + "@example.com>\r\n"
            + "DATA\r\nx\r\n.\r\nQUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Assert.Equal(["250 2.1.0 Sender OK", .. Enumerable.Repeat("250 2.1.5 Recipient OK", 8), "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Message accepted", "221 2.0.0 Bye"], transcript.Replies[1..]);
        var envelope = Assert.Single(server.Messages).Envelope;
        Assert.Null(envelope.Sender);
        Assert.Equal(
            [
                "routed@final.example",
                "\"john q. doe\"@example.com",
                "\"a\\\"b\\\\c\"@example.com",
                "literal@[IPv6:2001:db8::1]",
                "literal4@[192.0.2.1]",
                "Postmaster",
                "POSTMASTER@example.com",
                new string('l', 64) + "@example.com",
            ],
            envelope.Recipients.Select(r => r.Address));
        Assert.True(envelope.Recipients[5].IsPostmaster);
        Assert.True(envelope.Recipients[6].IsPostmaster);
    }

    public static TheoryData<string, string, string> Rejected => new()
    {
        { "<@x>", "501 5.1.7 Bad sender address syntax", "501 5.1.3 Bad recipient address syntax" },
        { "<u@>", "501 5.1.7 Bad sender address syntax", "501 5.1.3 Bad recipient address syntax" },
        { "<\"unterminated@example.com>", "501 5.1.7 Bad sender address syntax", "501 5.1.3 Bad recipient address syntax" },
        { "<u@[999.1.1.1]>", "501 5.1.7 Bad sender address syntax", "501 5.1.3 Bad recipient address syntax" },
        { "<" + new string('l', 65) + "@example.com>", "501 5.1.3 Local part too long (RFC 5321 4.5.3.1.1)", "501 5.1.3 Local part too long (RFC 5321 4.5.3.1.1)" },
        { "<j\u00c3\u00b6rg@example.com>", "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter (RFC 6531)", "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter (RFC 6531)" },
        { "<user@\u00c3\u00a9xample.com>", "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter (RFC 6531)", "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter (RFC 6531)" },
        { "<user@example.com\r>", "501 5.5.2 Syntax error: invalid characters in command", "501 5.5.2 Syntax error: invalid characters in command" },
        { "<Postmaster>", "501 5.1.7 Bad sender address syntax", "250 2.1.5 Recipient OK" },
        { "<>", "250 2.1.0 Sender OK", "501 5.1.3 Bad recipient address syntax" },
    };

    [Theory]
    [MemberData(nameof(Rejected))]
    public async Task EachMalformedPathGetsItsExactReplyInMailAndInRcptAndOpensNothing(string path, string mailReply, string rcptReply)
    {
        await using var server = TestServer.Start();
        var script = $"EHLO client.test\r\nMAIL FROM:{path}\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:{path}\r\nQUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Wire.AssertWellFormed(transcript);
        var opened = mailReply.StartsWith("250", StringComparison.Ordinal);
        Assert.Equal(
            [mailReply, opened ? "503 5.5.1 Bad sequence of commands: nested MAIL command" : "250 2.1.0 Sender OK", rcptReply, "221 2.0.0 Bye"],
            transcript.Replies[1..]);
    }

    [Fact]
    public async Task Utf8AddressesAreAcceptedOnlyInATransactionThatDeclaredSmtpUtf8()
    {
        await using var server = TestServer.Start();
        var script = "EHLO client.test\r\n"
            + "MAIL FROM:<j\u00c3\u00b6rg@example.com> SMTPUTF8\r\nRCPT TO:<\u00e7\u0094\u00a8\u00e6\u0088\u00b7@example.com>\r\nRSET\r\n"
            + "MAIL FROM:<ascii@example.com>\r\nRCPT TO:<\u00e7\u0094\u00a8\u00e6\u0088\u00b7@example.com>\r\nQUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Assert.Equal(
            [
                "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 Reset OK",
                "250 2.1.0 Sender OK", "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter (RFC 6531)", "221 2.0.0 Bye",
            ],
            transcript.Replies[1..]);
    }
}
