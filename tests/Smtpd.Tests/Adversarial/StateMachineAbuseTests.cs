namespace Smtpd.Tests.Adversarial;

/// <summary>
/// Issue 7's state-machine list, pipelined in one write so that every command meets the state the previous one
/// left (the same commands one at a time are in <c>Integration/StateMachineTests</c>), and the BDAT transfer state.
/// </summary>
public sealed class StateMachineAbuseTests
{
    [Theory]
    [InlineData(Delivery.Whole)]
    [InlineData(Delivery.ByteByByte)]
    public async Task TheWholeListPipelinedInOneWriteGetsExactlyTheRepliesOfTheStateTableAndOneMessage(Delivery delivery)
    {
        await using var server = TestServer.Start(o => o.ValidateRecipient = (_, rcpt, _) =>
            ValueTask.FromResult(rcpt.LocalPart == "nobody" ? SmtpVerdict.Reject() : SmtpVerdict.Accept));
        var script =
            "RSET\r\n"                          // before EHLO: allowed, greets nothing
            + "MAIL FROM:<early@b.example>\r\n" // still needs EHLO
            + "EHLO client.test\r\n"
            + "MAIL FROM:<first@b.example>\r\n"
            + "RCPT TO:<nobody@b.example>\r\n"  // every RCPT rejected...
            + "DATA\r\n"                        // ...so no DATA
            + "MAIL FROM:<nested@b.example>\r\n"
            + "VRFY someone\r\n"                // inside a transaction: answered, transaction untouched
            + "RCPT TO:<r@b.example>\r\n"
            + "DATA now\r\n"                    // arguments: 501, transaction untouched
            + "EHLO\r\n"                        // failed EHLO: 501, transaction untouched
            + "DATA\r\n"
            + "Subject: one\r\n\r\nbody\r\n.\r\n"
            + "DATA\r\n"                        // the transaction ended with the message
            + "MAIL FROM:<second@b.example>\r\n"
            + "RCPT TO:<r2@b.example>\r\n"
            + "EHLO again.example\r\n"          // successful EHLO resets the transaction
            + "DATA\r\n"
            + "MAIL FROM:<third@b.example>\r\n"
            + "RCPT TO:<r3@b.example>\r\n"
            + "RSET\r\n"
            + "RCPT TO:<r4@b.example>\r\n"
            + "MAIL FROM:<fourth@b.example>\r\n"
            + "RCPT TO:<r5@b.example>\r\n"
            + "QUIT\r\n";                       // with an open transaction: nothing is delivered

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script), delivery);

        Wire.AssertWellFormed(transcript);
        var replies = transcript.Replies;
        Assert.Equal(["250 Reset OK", "503 Bad sequence of commands: send HELO or EHLO first"], replies[..2]);
        Assert.StartsWith("250-test.local Hello client.test\n", replies[2], StringComparison.Ordinal);
        Assert.Equal(
            [
                "250 2.1.0 Sender OK",
                "550 5.7.1 Recipient rejected",
                "503 5.5.1 Bad sequence of commands: need RCPT before DATA",
                "503 5.5.1 Bad sequence of commands: nested MAIL command",
                "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery",
                "250 2.1.5 Recipient OK",
                "501 5.5.4 Syntax error: no arguments allowed",
                "501 5.5.4 Syntax error: domain name required",
                "354 End data with <CR><LF>.<CR><LF>",
                "250 2.0.0 Message accepted",
                "503 5.5.1 Bad sequence of commands: need MAIL before DATA",
                "250 2.1.0 Sender OK",
                "250 2.1.5 Recipient OK",
            ],
            replies[3..16]);
        Assert.StartsWith("250-test.local Hello again.example\n", replies[16], StringComparison.Ordinal);
        Assert.Equal(
            [
                "503 5.5.1 Bad sequence of commands: need MAIL before DATA",
                "250 2.1.0 Sender OK",
                "250 2.1.5 Recipient OK",
                "250 2.0.0 Reset OK",
                "503 5.5.1 Bad sequence of commands: need MAIL before RCPT",
                "250 2.1.0 Sender OK",
                "250 2.1.5 Recipient OK",
                "221 2.0.0 Bye",
            ],
            replies[17..]);

        var message = Assert.Single(server.Messages);
        Assert.Equal("first@b.example", message.Envelope.SenderAddress);
        Assert.Equal(["r@b.example"], message.Envelope.Recipients.Select(r => r.Address));
        Assert.Equal("Subject: one\r\n\r\nbody\r\n", message.Text);
    }

    [Theory]
    [InlineData("RSET\r\n", "250 2.0.0 Reset OK")]
    [InlineData("EHLO again.example\r\n", null)]
    public async Task ResettingDuringABdatTransferDropsTheChunksAlreadyReceived(string reset, string? resetReply)
    {
        await using var server = TestServer.Start();
        var script = "EHLO client.test\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nBDAT 9\r\nfirst-one" + reset
            + "BDAT 4 LAST\r\nlast"   // the transfer is gone: refused, its octets dropped
            + "MAIL FROM:<b@b.example>\r\nRCPT TO:<r@b.example>\r\nBDAT 6 LAST\r\nsecond"
            + "QUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Wire.AssertWellFormed(transcript);
        var replies = transcript.Replies[1..];
        Assert.Equal(["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 9 octets received"], replies[..3]);
        if (resetReply is null)
        {
            Assert.StartsWith("250-", replies[3], StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(resetReply, replies[3]);
        }

        Assert.Equal(
            ["503 5.5.1 Bad sequence of commands: need MAIL before BDAT", "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 Message accepted", "221 2.0.0 Bye"],
            replies[4..]);
        var message = Assert.Single(server.Messages);
        Assert.Equal("b@b.example", message.Envelope.SenderAddress);
        Assert.Equal("second", message.Text);
    }

    [Theory]
    [InlineData("MAIL FROM:<x@b.example>", "503 5.5.1 Bad sequence of commands: nested MAIL command")]
    [InlineData("RCPT TO:<x@b.example>", "503 5.5.1 Bad sequence of commands: RCPT not allowed during a BDAT transfer (RFC 3030)")]
    [InlineData("DATA", "503 5.5.1 Bad sequence of commands: DATA not allowed during a BDAT transfer (RFC 3030)")]
    [InlineData("AUTH PLAIN", "503 5.5.1 Bad sequence of commands: AUTH not allowed during a mail transaction")]
    [InlineData("VRFY x", "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery")]
    [InlineData("NOOP", "250 2.0.0 OK")]
    public async Task DuringABdatTransferOnlyMoreChunksAndHarmlessCommandsAreAccepted(string command, string expected)
    {
        await using var server = TestServer.Start(o =>
        {
            o.AllowInsecureAuth = true;
            o.Authenticate = (_, _, _) => ValueTask.FromResult(SmtpVerdict.Accept);
        });
        var script = $"EHLO client.test\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nBDAT 3\r\nabc{command}\r\nBDAT 3 LAST\r\ndefQUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Assert.Equal(
            ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 3 octets received", expected, "250 2.0.0 Message accepted", "221 2.0.0 Bye"],
            transcript.Replies[1..]);
        Assert.Equal("abcdef", Assert.Single(server.Messages).Text);
    }
}
