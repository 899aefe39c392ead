using System.Net;
using System.Text;

namespace Smtpd.Tests.Integration;

/// <summary>
/// LMTP (RFC 2033) on an LMTP listener, over real sockets: LHLO instead of HELO and EHLO, one reply per accepted
/// recipient after the end of data and after BDAT LAST, and per-recipient verdicts from the delivery callbacks.
/// Every server here also has an SMTP listener with the same options, to show that SMTP is unchanged beside it.
/// </summary>
public sealed class LmtpTests
{
    private const string Accepted = "250 2.0.0 Message accepted";
    private const string MailboxFull = "452 4.2.2 Mailbox full";
    private const string LocalError451 = "451 4.3.0 Requested action aborted: local error in processing";

    /// <summary>
    /// Refuses <c>nobody@</c> at RCPT; the delivery callback refuses <c>full@</c> on its own, then records the
    /// message as the test server does and accepts everyone else.
    /// </summary>
    internal static void RefuseNobodyAtRcptAndFullAtDelivery(SmtpServerOptions options)
    {
        var record = options.Deliver!;
        options.ValidateRecipient = (_, rcpt, _) => ValueTask.FromResult(rcpt.LocalPart == "nobody" ? SmtpVerdict.Reject() : SmtpVerdict.Accept);
        options.Deliver = (message, ct) =>
        {
            for (var i = 0; i < message.Envelope.Recipients.Count; i++)
            {
                if (message.Envelope.Recipients[i].LocalPart == "full")
                {
                    message.SetRecipientVerdict(i, SmtpVerdict.Reject(452, "4.2.2", "Mailbox full"));
                }
            }

            return record(message, ct);
        };
    }

    private static async Task<RawSmtpClient> ConnectAndLhloAsync(TestServer server)
    {
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
        Assert.StartsWith("250-test.local Hello client.test\n", await client.CommandAsync("LHLO client.test"), StringComparison.Ordinal);
        return client;
    }

    /// <summary>Opens a transaction: MAIL and one RCPT per recipient, each answered.</summary>
    private static async Task<string[]> OpenTransactionAsync(RawSmtpClient client, params string[] recipients)
    {
        var commands = new StringBuilder("MAIL FROM:<alice@example.com>\r\n");
        foreach (var recipient in recipients)
        {
            commands.Append("RCPT TO:<").Append(recipient).Append(">\r\n");
        }

        await client.SendAsync(commands.ToString());
        return await client.ReadRepliesAsync(1 + recipients.Length);
    }

    [Fact]
    public async Task LhloListsTheSameExtensionsAsEhloOnTheSmtpListener()
    {
        await using var server = TestServer.StartLmtp();
        await using var lmtp = await server.ConnectAsync();
        await lmtp.ReadReplyAsync();
        var (smtp, _) = await RawSmtpClient.ConnectAndGreetAsync(server.SmtpEndPoint);
        await using var _ = smtp;

        var lhlo = (await lmtp.CommandAsync("LHLO client.test")).Split('\n');
        var ehlo = (await smtp.CommandAsync("EHLO client.test")).Split('\n');

        Assert.Equal(ehlo, lhlo);
        Assert.Equal("250-test.local Hello client.test", lhlo[0]);
        // RFC 2033 5: an LMTP server MUST implement PIPELINING and ENHANCEDSTATUSCODES, and SHOULD implement 8BITMIME.
        Assert.Contains("250-PIPELINING", lhlo);
        Assert.Contains("250-ENHANCEDSTATUSCODES", lhlo);
        Assert.Contains("250-8BITMIME", lhlo);
        Assert.Contains("250-CHUNKING", lhlo);
        Assert.Contains("250-SIZE 36700160", lhlo);
        // Enhanced status codes are on after LHLO, as after EHLO (RFC 2034).
        Assert.Equal("250 2.0.0 OK", await lmtp.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task EhloAndHeloAreRefusedOnAnLmtpListenerAndLhloIsRequired()
    {
        await using var server = TestServer.StartLmtp();
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var __ = client;

        // RFC 2033 4.1: LHLO replaces HELO and EHLO, so that a client expecting SMTP is stopped at once.
        Assert.Equal("500 This is an LMTP server: use LHLO (RFC 2033 4.1)", await client.CommandAsync("EHLO client.test"));
        Assert.Equal("500 This is an LMTP server: use LHLO (RFC 2033 4.1)", await client.CommandAsync("HELO client.test"));
        Assert.Equal("503 Bad sequence of commands: send LHLO first", await client.CommandAsync("MAIL FROM:<alice@example.com>"));
        Assert.Equal("501 Syntax error: domain name required", await client.CommandAsync("LHLO"));
        Assert.StartsWith("250-", await client.CommandAsync("lhlo client.test"), StringComparison.Ordinal);
        // After LHLO the refusal carries its enhanced status code, and the session is still greeted.
        Assert.Equal("500 5.5.1 This is an LMTP server: use LHLO (RFC 2033 4.1)", await client.CommandAsync("EHLO client.test"));
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<alice@example.com>"));
        Assert.Equal("214 2.0.0 Commands: LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP (RFC 2033)", await client.CommandAsync("HELP"));
    }

    [Fact]
    public async Task TheSmtpListenerStillTreatsLhloAsAnUnknownCommand()
    {
        await using var server = TestServer.StartLmtp();
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.SmtpEndPoint);
        await using var __ = client;

        Assert.Equal("500 Command unrecognized", await client.CommandAsync("LHLO client.test"));
        Assert.Equal("503 Bad sequence of commands: send HELO or EHLO first", await client.CommandAsync("MAIL FROM:<alice@example.com>"));
        Assert.StartsWith("250-", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
        Assert.Equal("500 5.5.2 Command unrecognized", await client.CommandAsync("LHLO client.test"));
        Assert.Equal("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP (RFC 5321)", await client.CommandAsync("HELP"));
    }

    [Fact]
    public async Task AfterTheFinalDotEachAcceptedRecipientGetsOneReplyInRcptOrder()
    {
        await using var server = TestServer.StartLmtp(RefuseNobodyAtRcptAndFullAtDelivery);
        await using var client = await ConnectAndLhloAsync(server);

        Assert.Equal(
            ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "550 5.7.1 Recipient rejected", "250 2.1.5 Recipient OK"],
            await OpenTransactionAsync(client, "bob@example.com", "nobody@example.com", "full@example.com"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync("Subject: lmtp\r\n\r\nhello\r\n.\r\n");

        // RFC 2033 4.2: one reply per successful RCPT, none for the refused one.
        Assert.Equal([Accepted, MailboxFull], await client.ReadRepliesAsync(2));
        // Exactly two: the next reply is the NOOP's.
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Equal(["bob@example.com", "full@example.com"], Assert.Single(server.Messages).Envelope.Recipients.Select(r => r.Address));
    }

    [Fact]
    public async Task BdatLastIsAnsweredOncePerRecipientAndEarlierChunksOnce()
    {
        await using var server = TestServer.StartLmtp(RefuseNobodyAtRcptAndFullAtDelivery);
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "full@example.com", "bob@example.com", "carol@example.com");

        // RFC 2033 4.3: a BDAT without LAST has one reply; BDAT LAST one per successful RCPT, in order.
        await client.SendAsync("BDAT 6\r\nhello ");
        Assert.Equal("250 2.0.0 6 octets received", await client.ReadReplyAsync());
        await client.SendAsync("BDAT 7 LAST\r\nworld\r\n");
        Assert.Equal([MailboxFull, Accepted, Accepted], await client.ReadRepliesAsync(3));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Equal("hello world\r\n", (await server.WaitForMessageAsync()).Text);
    }

    [Fact]
    public async Task AWholePipelinedTransactionGetsEveryReplyInOrder()
    {
        await using var server = TestServer.StartLmtp(RefuseNobodyAtRcptAndFullAtDelivery);
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var __ = client;

        await client.SendAsync(
            "LHLO client.test\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<full@example.com>\r\nRCPT TO:<nobody@example.com>\r\n"
            + "RCPT TO:<bob@example.com>\r\nDATA\r\n");
        var replies = await client.ReadRepliesAsync(6);
        Assert.StartsWith("250-test.local", replies[0], StringComparison.Ordinal);
        Assert.Equal(
            ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "550 5.7.1 Recipient rejected", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>"],
            replies[1..]);
        await client.SendAsync("hello\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<carol@example.com>\r\nBDAT 0 LAST\r\nQUIT\r\n");
        Assert.Equal(
            [MailboxFull, Accepted, "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", Accepted, "221 2.0.0 Bye"],
            await client.ReadRepliesAsync(6));
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Equal(2, server.Messages.Count);
    }

    [Fact]
    public async Task RsetForgetsTheRecipientsSoTheNextMessageGetsRepliesOnlyForItsOwn()
    {
        await using var server = TestServer.StartLmtp();
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");

        Assert.Equal("250 2.0.0 Reset OK", await client.CommandAsync("RSET"));
        Assert.Equal("503 5.5.1 Bad sequence of commands: need MAIL before DATA", await client.CommandAsync("DATA"));
        await OpenTransactionAsync(client, "dave@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal(Accepted, await client.CommandAsync("hello\r\n."));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Equal("dave@example.com", Assert.Single(Assert.Single(server.Messages).Envelope.Recipients).Address);
    }

    [Fact]
    public async Task AMessageOverTheSizeLimitGetsTheErrorOncePerRecipient()
    {
        await using var server = TestServer.StartLmtp(o => o.MaxMessageSize = 100);
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com", "bob@example.com");

        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync(new string('x', 500) + "\r\n.\r\n");

        // RFC 2033 4.2: every successful RCPT gets a reply, a duplicate included, even when the message as a whole fails.
        const string tooBig = "552 5.3.4 Message size exceeds fixed maximum message size";
        Assert.Equal([tooBig, tooBig, tooBig], await client.ReadRepliesAsync(3));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task ABdatChunkOverTheSizeLimitGetsOneReplyUnlessItIsTheLast()
    {
        await using var server = TestServer.StartLmtp(o => o.MaxMessageSize = 10);
        await using var client = await ConnectAndLhloAsync(server);
        const string tooBig = "552 5.3.4 Message size exceeds fixed maximum message size";

        // RFC 3030 2: the chunk that crosses the limit fails the transaction; RFC 2033 4.3: it is not LAST, so one reply.
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");
        await client.SendAsync("BDAT 20\r\n" + new string('x', 20));
        Assert.Equal(tooBig, await client.ReadReplyAsync());
        Assert.Equal("503 5.5.1 Bad sequence of commands: need MAIL before BDAT", await client.CommandAsync("BDAT 0 LAST"));

        // A LAST chunk that crosses it is answered once per recipient.
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");
        await client.SendAsync("BDAT 20 LAST\r\n" + new string('x', 20));
        Assert.Equal([tooBig, tooBig], await client.ReadRepliesAsync(2));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Empty(server.Messages);
    }

    [Theory]
    [InlineData(false, "550 5.6.0 Message contains bare CR or LF; lines must end with CRLF (RFC 5321 2.3.8)")]
    [InlineData(true, "500 5.5.2 Line too long in message text (RFC 5321 4.5.3.1.6)")]
    public async Task ContentThatBreaksTheTextRulesIsRefusedOncePerRecipient(bool longLine, string refusal)
    {
        await using var server = TestServer.StartLmtp();
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");

        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync((longLine ? new string('x', 1200) : "one\ntwo") + "\r\n.\r\n");
        Assert.Equal([refusal, refusal], await client.ReadRepliesAsync(2));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Empty(server.Messages);
    }

    [Theory]
    [InlineData("Deliver")]
    [InlineData("DeliverMime")]
    public async Task EachDeliveryCallbackCanAcceptOrRefuseEachRecipient(string callback)
    {
        ValueTask<SmtpVerdict> Decide(SmtpMessage message)
        {
            Assert.True(message.Session.IsLmtp);
            message.SetRecipientVerdict(message.Envelope.Recipients[0], SmtpVerdict.AcceptWith(new SmtpReply(250, "2.1.5", "Delivered to bob")));
            message.SetRecipientVerdict(2, SmtpVerdict.Reject(550, "5.1.1", "No such user"));
            // Recipients without a verdict of their own get the returned one.
            return ValueTask.FromResult(SmtpVerdict.Reject(451, "4.2.0", "Try later"));
        }

        await using var server = TestServer.StartLmtp(o =>
        {
            if (callback == "Deliver")
            {
                o.Deliver = (message, _) => Decide(message);
            }
            else
            {
                o.DeliverMime = (message, mime, _) =>
                {
                    Assert.Equal("per recipient", mime.Subject);
                    return Decide(message);
                };
            }
        });
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com", "dave@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync("Subject: per recipient\r\n\r\nhello\r\n.\r\n");

        Assert.Equal(["250 2.1.5 Delivered to bob", "451 4.2.0 Try later", "550 5.1.1 No such user"], await client.ReadRepliesAsync(3));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task DeliverLinesHasOneVerdictForEveryRecipient()
    {
        await using var server = TestServer.StartLmtp(o =>
        {
            o.Deliver = null;
            o.DeliverLines = (_, recipients, _, session, _) =>
            {
                Assert.True(session.IsLmtp);
                return ValueTask.FromResult(recipients.Count == 2 ? SmtpVerdict.Reject(554, "5.7.1", "Not today") : SmtpVerdict.Accept);
            };
        });
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync("hello\r\n.\r\n");

        Assert.Equal(["554 5.7.1 Not today", "554 5.7.1 Not today"], await client.ReadRepliesAsync(2));
    }

    [Fact]
    public async Task WithoutADeliveryCallbackEveryRecipientIsAccepted()
    {
        await using var server = TestServer.StartLmtp(o => o.Deliver = null);
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync("hello\r\n.\r\n");

        Assert.Equal([Accepted, Accepted], await client.ReadRepliesAsync(2));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task ADeliveryCallbackThatThrowsFailsEveryRecipientWith451WhateverItHadSet()
    {
        await using var server = TestServer.StartLmtp(o => o.Deliver = (message, _) =>
        {
            message.SetRecipientVerdict(0, SmtpVerdict.Accept);
            throw new IOException("disk full");
        });
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync("hello\r\n.\r\n");

        Assert.Equal([LocalError451, LocalError451], await client.ReadRepliesAsync(2));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task SmtpRejectedExceptionIsTheVerdictForRecipientsWithoutOneOfTheirOwn()
    {
        await using var server = TestServer.StartLmtp(o => o.Deliver = (message, _) =>
        {
            message.SetRecipientVerdict(1, SmtpVerdict.Accept);
            throw new SmtpRejectedException(new SmtpReply(554, "5.7.1", "Spam"));
        });
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync("hello\r\n.\r\n");

        Assert.Equal(["554 5.7.1 Spam", Accepted], await client.ReadRepliesAsync(2));
    }

    [Fact]
    public async Task ADisconnectVerdictDropsTheConnectionWithoutAnyReply()
    {
        await using var server = TestServer.StartLmtp(o => o.Deliver = (message, _) =>
        {
            message.SetRecipientVerdict(0, SmtpVerdict.Accept);
            return ValueTask.FromResult(SmtpVerdict.Disconnect);
        });
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync("hello\r\n.\r\n");

        await Assert.ThrowsAsync<IOException>(() => client.ReadReplyAsync());
    }

    [Fact]
    public async Task AMailboxVerdictCoversEveryRcptOfThatMailboxAndEachGetsItsReply()
    {
        await using var server = TestServer.StartLmtp(o => o.Deliver = (message, _) =>
        {
            // Domains compare without regard to case (RFC 5321 2.4).
            message.SetRecipientVerdict(message.Envelope.Recipients[2], SmtpVerdict.Reject(452, "4.2.2", "Mailbox full"));
            return ValueTask.FromResult(SmtpVerdict.Accept);
        });
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com", "bob@EXAMPLE.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync("hello\r\n.\r\n");

        Assert.Equal([MailboxFull, Accepted, MailboxFull], await client.ReadRepliesAsync(3));
    }

    [Fact]
    public async Task RecipientVerdictsAreCheckedAndCanOnlyBeSetWhileTheCallbackRuns()
    {
        SmtpMessage? kept = null;
        var problems = new List<Type>();
        await using var server = TestServer.StartLmtp(o => o.Deliver = (message, _) =>
        {
            kept = message;
            foreach (var attempt in new Action[]
            {
                () => message.SetRecipientVerdict(-1, SmtpVerdict.Accept),
                () => message.SetRecipientVerdict(1, SmtpVerdict.Accept),
                () => message.SetRecipientVerdict(0, null!),
                () => message.SetRecipientVerdict(0, SmtpVerdict.Disconnect),
                () => message.SetRecipientVerdict(new SmtpMailbox("someone", "example.com"), SmtpVerdict.Accept),
            })
            {
                try
                {
                    attempt();
                }
                catch (ArgumentException ex)
                {
                    problems.Add(ex.GetType());
                }
            }

            return ValueTask.FromResult(SmtpVerdict.Accept);
        });
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal(Accepted, await client.CommandAsync("hello\r\n."));

        Assert.Equal(
            [typeof(ArgumentOutOfRangeException), typeof(ArgumentOutOfRangeException), typeof(ArgumentNullException), typeof(ArgumentException), typeof(ArgumentException)],
            problems);
        Assert.NotNull(kept);
        Assert.Throws<InvalidOperationException>(() => kept.SetRecipientVerdict(0, SmtpVerdict.Accept));
    }

    [Fact]
    public async Task OnAnSmtpListenerTheOneReplyIsTheFirstRefusalOrElseTheCallbacksOwn()
    {
        await using var server = TestServer.StartLmtp(o => o.Deliver = (message, _) =>
        {
            Assert.False(message.Session.IsLmtp);
            if (message.Envelope.Recipients.Any(r => r.LocalPart == "full"))
            {
                message.SetRecipientVerdict(message.Envelope.Recipients.First(r => r.LocalPart == "full"), SmtpVerdict.Reject(452, "4.2.2", "Mailbox full"));
            }

            foreach (var recipient in message.Envelope.Recipients.Where(r => r.LocalPart == "bob"))
            {
                message.SetRecipientVerdict(recipient, SmtpVerdict.Accept);
            }

            return ValueTask.FromResult(SmtpVerdict.AcceptWith(new SmtpReply(250, "2.0.0", "Queued as 42")));
        });
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.SmtpEndPoint);
        await using var __ = client;
        await client.CommandAsync("EHLO client.test");

        // One recipient refused: a 250 would hide it, so the single reply is that refusal.
        await OpenTransactionAsync(client, "bob@example.com", "full@example.com", "carol@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal(MailboxFull, await client.CommandAsync("hello\r\n."));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));

        // All accepted, some explicitly: the callback's own reply.
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Queued as 42", await client.CommandAsync("hello\r\n."));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task OnAnSmtpListenerARefusalReturnedForNoRemainingRecipientCoversNobody()
    {
        await using var server = TestServer.StartLmtp(o => o.Deliver = (message, _) =>
        {
            message.SetRecipientVerdict(0, SmtpVerdict.Accept);
            return ValueTask.FromResult(SmtpVerdict.Reject());
        });
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.SmtpEndPoint);
        await using var __ = client;
        await client.CommandAsync("EHLO client.test");

        await OpenTransactionAsync(client, "bob@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal(Accepted, await client.CommandAsync("hello\r\n."));

        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal("554 5.6.0 Message rejected", await client.CommandAsync("hello\r\n."));
    }

    [Fact]
    public async Task ABdatLastRefusedByTheCommandFilterIsAnsweredOncePerRecipient()
    {
        await using var server = TestServer.StartLmtp(o => o.FilterCommand = (_, verb, _) => ValueTask.FromResult(verb == "BDAT" ? SmtpVerdict.Reject() : SmtpVerdict.Accept));
        await using var client = await ConnectAndLhloAsync(server);
        await OpenTransactionAsync(client, "bob@example.com", "carol@example.com");

        // The client of a BDAT LAST waits for one reply per recipient (RFC 2033 4.3), whatever the answer.
        await client.SendAsync("BDAT 5 LAST\r\nhello");
        Assert.Equal(["550 5.7.1 Command rejected", "550 5.7.1 Command rejected"], await client.ReadRepliesAsync(2));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task TheCommandFilterSeesLhlo()
    {
        var verbs = new List<string>();
        await using var server = TestServer.StartLmtp(o => o.FilterCommand = (_, verb, _) =>
        {
            lock (verbs)
            {
                verbs.Add(verb);
            }

            return ValueTask.FromResult(SmtpVerdict.Accept);
        });
        await using var client = await ConnectAndLhloAsync(server);
        Assert.Equal("221 2.0.0 Bye", await client.CommandAsync("QUIT"));

        Assert.Equal(["LHLO", "QUIT"], verbs);
    }

    [Fact]
    public async Task CallbacksSeeWhichProtocolTheSessionSpeaks()
    {
        var seen = new List<bool>();
        await using var server = TestServer.StartLmtp(o => o.ValidateHost = (session, _) =>
        {
            lock (seen)
            {
                seen.Add(session.IsLmtp);
            }

            return ValueTask.FromResult(SmtpVerdict.Accept);
        });
        await using (var lmtp = await ConnectAndLhloAsync(server))
        {
            Assert.True(Assert.Single(seen));
        }

        var (smtp, _) = await RawSmtpClient.ConnectAndGreetAsync(server.SmtpEndPoint);
        await using (smtp)
        {
            Assert.Equal([true, false], seen);
        }
    }

    [Fact]
    public async Task AnLmtpListenerOnPort25IsRefused()
    {
        await using var server = new SmtpServer(new SmtpServerOptions());
        var listener = new SmtpListener(new IPEndPoint(IPAddress.Loopback, 25)) { Protocol = SmtpListenerProtocol.Lmtp };

        // RFC 2033 5: LMTP MUST NOT be used on TCP port 25.
        var error = Assert.Throws<ArgumentException>(() => server.Start(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)), listener));

        Assert.Contains("port 25", error.Message, StringComparison.Ordinal);
        Assert.Empty(server.Listeners);
    }

    [Fact]
    public async Task ListenersKeepTheirProtocolAndSayItInToString()
    {
        await using var server = TestServer.StartLmtp();

        Assert.Equal(SmtpListenerProtocol.Lmtp, server.Server.Listeners[0].Protocol);
        Assert.Equal(SmtpListenerProtocol.Smtp, server.Server.Listeners[1].Protocol);
        Assert.Equal($"127.0.0.1:{server.EndPoint.Port} (LMTP)", server.Server.Listeners[0].ToString());
        Assert.Equal($"127.0.0.1:{server.SmtpEndPoint.Port}", server.Server.Listeners[1].ToString());
        var endPoint = new IPEndPoint(IPAddress.Loopback, 24);
        Assert.Equal("127.0.0.1:24 (LMTP, implicit TLS)", new SmtpListener(endPoint, ImplicitTls: true) { Protocol = SmtpListenerProtocol.Lmtp }.ToString());
        Assert.Equal(SmtpListenerProtocol.Smtp, new SmtpListener(endPoint).Protocol);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpListener(endPoint) { Protocol = (SmtpListenerProtocol)2 });
    }
}
