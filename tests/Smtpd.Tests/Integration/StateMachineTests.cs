namespace Smtpd.Tests.Integration;

/// <summary>The command sequence of RFC 5321 4.1.4, driven over a real socket.</summary>
public sealed class StateMachineTests
{
    [Theory]
    [InlineData("MAIL FROM:<a@b.example>", "503 Bad sequence of commands: send HELO or EHLO first")]
    [InlineData("RCPT TO:<a@b.example>", "503 Bad sequence of commands: send HELO or EHLO first")]
    [InlineData("DATA", "503 Bad sequence of commands: send HELO or EHLO first")]
    public async Task TransactionCommandsBeforeHeloGet503(string command, string expected)
    {
        await using var server = TestServer.Start();
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var __ = client;
        Assert.Equal(expected, await client.CommandAsync(command));
    }

    [Fact]
    public async Task DataWithNoSenderOrRecipientGets503()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("503 5.5.1 Bad sequence of commands: need MAIL before DATA", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Equal("503 5.5.1 Bad sequence of commands: need RCPT before DATA", await client.CommandAsync("DATA"));
    }

    [Fact]
    public async Task MailAfterAllRecipientsWereRejectedCanStillNotSendData()
    {
        await using var server = TestServer.Start(o => o.ValidateRecipient = (_, _, _) => ValueTask.FromResult(SmtpVerdict.Reject("nobody here")));
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Equal("550 5.7.1 Recipient rejected", await client.CommandAsync("RCPT TO:<x@y.example>"));
        Assert.StartsWith("503 5.5.1", await client.CommandAsync("DATA"));
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task NestedMailGets503AndKeepsTheFirstTransaction()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<first@b.example>"));
        Assert.Equal("503 5.5.1 Bad sequence of commands: nested MAIL command", await client.CommandAsync("MAIL FROM:<second@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("x\r\n."));
        Assert.Equal("first@b.example", (await server.WaitForMessageAsync()).Envelope.SenderAddress);
    }

    [Fact]
    public async Task RsetClearsTheTransactionButKeepsTheGreeting()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.Equal("250 2.0.0 Reset OK", await client.CommandAsync("RSET"));
        Assert.StartsWith("503", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<again@b.example>"));
    }

    [Fact]
    public async Task RsetBeforeHeloDoesNotCountAsAGreeting()
    {
        await using var server = TestServer.Start();
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var __ = client;
        Assert.Equal("250 Reset OK", await client.CommandAsync("RSET"));
        Assert.StartsWith("503", await client.CommandAsync("MAIL FROM:<a@b.example>"));
    }

    [Fact]
    public async Task SuccessfulEhloResetsAnOpenTransaction()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("250-", await client.CommandAsync("EHLO again.example"));
        Assert.StartsWith("503", await client.CommandAsync("DATA"));
    }

    [Fact]
    public async Task FailedEhloChangesNothing()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.Equal("501 5.5.4 Syntax error: domain name required", await client.CommandAsync("EHLO"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("body\r\n."));
        Assert.Single(server.Messages);
    }

    [Fact]
    public async Task HeloSessionRepliesCarryNoEnhancedStatusCodes()
    {
        await using var server = TestServer.Start();
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var __ = client;
        Assert.Equal("250 test.local Hello client.test", await client.CommandAsync("HELO client.test"));
        Assert.Equal("250 Sender OK", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Equal("500 Command unrecognized", await client.CommandAsync("BOGUS"));
    }

    [Fact]
    public async Task EhloSessionRepliesAllCarryEnhancedStatusCodes()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        foreach (var command in new[] { "NOOP", "VRFY someone", "EXPN list", "HELP", "BOGUS", "RCPT TO:<a@b.example>", "MAIL FROM:<a@b.example>", "RCPT TO:<c@d.example>", "RSET", "QUIT" })
        {
            var reply = await client.CommandAsync(command);
            Assert.Matches(@"^\d{3} [245]\.\d{1,3}\.\d{1,3} ", reply);
        }
    }

    [Theory]
    [InlineData("VRFY someone", "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery")]
    [InlineData("EXPN list", "502 5.5.1 EXPN not supported")]
    [InlineData("NOOP", "250 2.0.0 OK")]
    [InlineData("NOOP with a string", "250 2.0.0 OK")]
    [InlineData("BOGUS", "500 5.5.2 Command unrecognized")]
    [InlineData("QUIT now", "501 5.5.4 Syntax error: no arguments allowed")]
    [InlineData("MAIL FROM:<a@b.example> FOO=bar", "555 5.5.4 Unsupported MAIL or RCPT parameter")]
    [InlineData("MAIL TO:<a@b.example>", "501 5.5.4 Syntax error: use MAIL FROM:<address>")]
    public async Task SimpleCommandsGetTheirStandardReplies(string command, string expected)
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal(expected, await client.CommandAsync(command));
    }

    [Fact]
    public async Task DataWithAnArgumentGets501AndTheTransactionStaysOpen()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.Equal("501 5.5.4 Syntax error: no arguments allowed", await client.CommandAsync("DATA now"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("x\r\n."));
    }

    [Fact]
    public async Task HelpAnswers214()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("214 2.0.0 ", await client.CommandAsync("HELP"));
    }

    [Fact]
    public async Task VrfyInsideATransactionLeavesTheTransactionIntact()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("252", await client.CommandAsync("VRFY postmaster"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("x\r\n."));
    }

    [Fact]
    public async Task QuitGets221AndTheServerCloses()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("221 2.0.0 Bye", await client.CommandAsync("QUIT"));
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task BdatMessageIsDeliveredExactlyAndDataAfterBdatGets503()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example> BODY=BINARYMIME"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        await client.SendAsync("BDAT 7\r\nline\r\n.");
        Assert.Equal("250 2.0.0 7 octets received", await client.ReadReplyAsync());
        Assert.Equal("503 5.5.1 Bad sequence of commands: DATA not allowed during a BDAT transfer (RFC 3030)", await client.CommandAsync("DATA"));
        await client.SendAsync("BDAT 3 LAST\r\n\r\n.");
        Assert.Equal("250 2.0.0 Message accepted", await client.ReadReplyAsync());
        Assert.Equal("line\r\n.\r\n.", (await server.WaitForMessageAsync()).Text);
    }

    [Fact]
    public async Task BdatZeroLastEndsTheMessage()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        await client.SendAsync("BDAT 4\r\nabcd");
        Assert.StartsWith("250", await client.ReadReplyAsync());
        Assert.Equal("250 2.0.0 Message accepted", await client.CommandAsync("BDAT 0 LAST"));
        Assert.Equal("abcd", (await server.WaitForMessageAsync()).Text);
    }

    [Fact]
    public async Task DataWithBinaryMimeGets503()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example> BODY=BINARYMIME"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.Equal("503 5.5.1 BODY=BINARYMIME requires BDAT (RFC 3030 section 3)", await client.CommandAsync("DATA"));
    }

    [Fact]
    public async Task BdatOutOfSequenceConsumesItsChunkSoTheOctetsAreNeverCommands()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        await client.SendAsync("BDAT 6\r\nQUIT\r\nNOOP\r\n");
        Assert.Equal("503 5.5.1 Bad sequence of commands: need MAIL before BDAT", await client.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await client.ReadReplyAsync());
    }

    [Fact]
    public async Task BdatWithAnUnreadableSizeGets501AndTheConnectionCloses()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("501 5.5.4", await client.CommandAsync("BDAT ten"));
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task SecondTransactionOnTheSameSessionIsIndependent()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        for (var i = 0; i < 3; i++)
        {
            Assert.StartsWith("250", await client.CommandAsync($"MAIL FROM:<s{i}@b.example>"));
            Assert.StartsWith("250", await client.CommandAsync($"RCPT TO:<r{i}@b.example>"));
            Assert.StartsWith("354", await client.CommandAsync("DATA"));
            Assert.StartsWith("250", await client.CommandAsync($"message {i}\r\n."));
        }

        var messages = server.Messages.ToArray();
        Assert.Equal(3, messages.Length);
        Assert.All(messages, (m, i) =>
        {
            Assert.Equal($"s{i}@b.example", m.Envelope.SenderAddress);
            Assert.Equal($"r{i}@b.example", Assert.Single(m.Envelope.Recipients).Address);
            Assert.Equal($"message {i}\r\n", m.Text);
        });
    }
}
