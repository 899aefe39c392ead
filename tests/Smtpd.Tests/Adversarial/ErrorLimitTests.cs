namespace Smtpd.Tests.Adversarial;

/// <summary>
/// <c>MaxErrors</c> (Postfix's <c>smtpd_hard_error_limit</c>, 20) against floods: every kind of bad command counts,
/// good commands in between forgive nothing, and the session ends with <c>421</c> and a close without reading on.
/// The basic 421 cases are in <c>Integration/LimitTests</c>.
/// </summary>
public sealed class ErrorLimitTests
{
    private const string TooManyErrors = "421 4.7.0 Too many errors, closing connection";

    [Fact]
    public async Task AHundredThousandPipelinedUnknownCommandsGetExactlyTwentyErrorsThen421AndAClose()
    {
        await using var server = TestServer.Start();
        var flood = string.Concat(Enumerable.Repeat("XYZZY\r\n", 100_000));
        var started = DateTime.UtcNow;

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes("EHLO client.test\r\n" + flood));

        Wire.AssertWellFormed(transcript);
        Assert.Equal([.. Enumerable.Repeat("500 5.5.2 Command unrecognized", 20), TooManyErrors], transcript.Replies[1..]);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10));
        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 0, "the session ended");
    }

    [Fact]
    public async Task GoodCommandsBetweenErrorsForgiveNothing()
    {
        await using var server = TestServer.Start(o => o.MaxErrors = 5);
        var script = string.Concat(Enumerable.Repeat("BOGUS\r\nNOOP\r\nRSET\r\n", 10));

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes("EHLO client.test\r\n" + script));

        var expected = Enumerable.Range(0, 4).SelectMany(_ => new[] { "500 5.5.2 Command unrecognized", "250 2.0.0 OK", "250 2.0.0 Reset OK" })
            .Append("500 5.5.2 Command unrecognized").Append(TooManyErrors);
        Assert.Equal(expected, transcript.Replies[1..]);
    }

    [Fact]
    public async Task EveryKindOfBadCommandCountsTowardsTheLimit()
    {
        await using var server = TestServer.Start(o =>
        {
            o.MaxErrors = 9;
            o.Authenticate = (_, _, _) => ValueTask.FromResult(SmtpVerdict.Reject());
        });
        var script =
            "EHLO client.test\r\n"
            + "WHAT\r\n"                                   // 500 unknown verb
            + "MAIL FROM:nobracket@b.example\r\n"          // 501 syntax
            + "RCPT TO:<r@b.example>\r\n"                  // 503 sequence
            + "NOOP " + new string('x', 600) + "\r\n"      // 500 line too long
            + "STARTTLS\r\n"                               // 502 no certificate
            + "AUTH PLAIN\r\n"                             // 538 no TLS
            + "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\nRCPT TO:<r@b.example>\r\nDATA\r\n" // 503 BINARYMIME needs BDAT
            + "MAIL FROM:<x@b.example>\r\n"                // 503 nested MAIL
            + "RSET\r\nBDAT 4\r\nQUIT\r\n";                // 503 BDAT out of sequence, its 4 octets dropped
        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Wire.AssertWellFormed(transcript);
        Assert.Equal(
            [
                "500 5.5.2 Command unrecognized",
                "501 5.1.7 Bad sender address syntax",
                "503 5.5.1 Bad sequence of commands: need MAIL before RCPT",
                "500 5.5.2 Line too long (RFC 5321 4.5.3.1.4)",
                "502 5.5.1 STARTTLS not available",
                "538 5.7.11 Encryption required for requested authentication mechanism",
                "250 2.1.0 Sender OK",
                "250 2.1.5 Recipient OK",
                "503 5.5.1 BODY=BINARYMIME requires BDAT (RFC 3030 section 3)",
                "503 5.5.1 Bad sequence of commands: nested MAIL command",
                "250 2.0.0 Reset OK",
                "503 5.5.1 Bad sequence of commands: need MAIL before BDAT",
                TooManyErrors,
            ],
            transcript.Replies[1..]);
    }

    [Fact]
    public async Task ErrorsAreCountedPerSessionNotPerServer()
    {
        await using var server = TestServer.Start(o => o.MaxErrors = 2);
        for (var i = 0; i < 5; i++)
        {
            var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes("EHLO client.test\r\nBAD\r\nQUIT\r\n"));
            Assert.Equal(["500 5.5.2 Command unrecognized", "221 2.0.0 Bye"], transcript.Replies[1..]);
        }
    }

    [Fact]
    public async Task AHostRejectedClientThatKeepsTalkingIsCutOffByTheErrorLimit()
    {
        // Tcl smtpd keeps a refused client open until QUIT; the error limit stops it from holding the slot forever.
        await using var server = TestServer.Start(o =>
        {
            o.MaxErrors = 3;
            o.ValidateHost = (_, _) => ValueTask.FromResult(SmtpVerdict.Reject("go away"));
        });
        var (greeting, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes("EHLO a\r\nNOOP\r\nMAIL FROM:<a@b.example>\r\nNOOP\r\n"));
        Assert.Equal("550 Access denied: go away", greeting);
        Assert.Equal(
            [
                "503 Bad sequence of commands: access denied, only QUIT is accepted",
                "503 Bad sequence of commands: access denied, only QUIT is accepted",
                "503 Bad sequence of commands: access denied, only QUIT is accepted",
                "421 Too many errors, closing connection",
            ],
            transcript.Replies);
    }
}
