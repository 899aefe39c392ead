using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.Integration;

/// <summary>
/// Every callback row of Tcl smtpd (<c>-validate_host</c>, <c>-validate_sender</c>, <c>-validate_recipient</c>,
/// <c>-deliverMIME</c>, <c>-deliver</c>) and the .NET additions (raw delivery, explicit replies, session context,
/// cancellation), over real sockets.
/// </summary>
public sealed class CallbackTests
{
    private const string AccessDenied503 = "503 Bad sequence of commands: access denied, only QUIT is accepted";
    private const string LocalError451 = "451 4.3.0 Requested action aborted: local error in processing";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>How a callback turns a request down, with the reply each stage should send for it.</summary>
    public static TheoryData<string, string> SenderRejections => new()
    {
        { "Reject", "550 5.7.1 Sender rejected" },
        { "ThrowRejected", "550 5.7.1 Sender rejected" },
        { "RejectWithReply", "553 5.7.1 Policy says no" },
        { "ThrowRejectedWithReply", "450 4.7.1 Greylisted, try again later" },
        { "Fail", LocalError451 },
    };

    public static TheoryData<string, string> RecipientRejections => new()
    {
        { "Reject", "550 5.7.1 Recipient rejected" },
        { "ThrowRejected", "550 5.7.1 Recipient rejected" },
        { "RejectWithReply", "553 5.7.1 Policy says no" },
        { "ThrowRejectedWithReply", "450 4.7.1 Greylisted, try again later" },
        { "Fail", LocalError451 },
    };

    public static TheoryData<string, string, string> DeliveryRejections
    {
        get
        {
            var data = new TheoryData<string, string, string>();
            foreach (var callback in new[] { "Deliver", "DeliverMime", "DeliverLines" })
            {
                data.Add(callback, "Reject", "554 5.6.0 Message rejected");
                data.Add(callback, "ThrowRejected", "554 5.6.0 Message rejected");
                data.Add(callback, "RejectWithReply", "553 5.7.1 Policy says no");
                data.Add(callback, "ThrowRejectedWithReply", "450 4.7.1 Greylisted, try again later");
                data.Add(callback, "Fail", LocalError451);
            }

            return data;
        }
    }

    [Fact]
    public async Task ValidateHostSeesTheClientAddressBeforeAnyGreeting()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        SmtpSessionContext? seen = null;
        string? heloAtValidation = "not called";
        await using var server = TestServer.Start(o => o.ValidateHost = async (session, ct) =>
        {
            seen = session;
            heloAtValidation = session.HeloName;
            await gate.Task.WaitAsync(ct);
            return SmtpVerdict.Accept;
        });
        await using var client = await server.ConnectAsync();

        // The callback runs before the greeting: nothing arrives until it answers.
        Assert.False(client.Socket.Poll(200_000, SelectMode.SelectRead));
        gate.SetResult();
        Assert.Equal("220 test.local ESMTP Smtpd ready", await client.ReadReplyAsync());

        Assert.NotNull(seen);
        Assert.Equal(client.Socket.LocalEndPoint, seen.RemoteEndPoint);
        Assert.Equal(IPAddress.Loopback, seen.RemoteEndPoint.Address);
        Assert.Equal(server.EndPoint, seen.LocalEndPoint);
        Assert.Null(heloAtValidation);
    }

    [Fact]
    public async Task AHostValidationThatBlocksItsThreadDoesNotHoldUpTheNextConnection()
    {
        // Sessions without ValidateHost start on the accepting thread; with it they must not, because the Tcl-style
        // callback is synchronous and may block.
        using var release = new ManualResetEventSlim();
        var calls = 0;
        await using var server = TestServer.Start(o => o.ValidateHost = (_, _) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                release.Wait(TimeSpan.FromSeconds(10), CancellationToken.None);
            }

            return ValueTask.FromResult(SmtpVerdict.Accept);
        });
        try
        {
            await using var blocked = await server.ConnectAsync();
            await Eventually.WaitUntilAsync(() => Volatile.Read(ref calls) == 1);

            var (second, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint).WaitAsync(TimeSpan.FromSeconds(5), Ct);
            await using (second)
            {
                Assert.Equal("220 test.local ESMTP Smtpd ready", greeting);
            }
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public async Task RejectedHostGets550AccessDeniedAndOnlyQuitIsAccepted()
    {
        await using var server = TestServer.Start(o => o.ValidateHost = (_, _) => ValueTask.FromResult(SmtpVerdict.Reject("go away!")));
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        Assert.Equal("550 Access denied: go away!", greeting);

        // Tcl smtpd: "the connection is not closed but we wait for the client to send a QUIT command.
        // Any other commands cause a 503 Bad Sequence error."
        string[] commands =
        [
            "EHLO client.test", "HELO client.test", "MAIL FROM:<alice@example.com>", "RCPT TO:<bob@example.com>", "DATA",
            "RSET", "NOOP", "VRFY bob", "EXPN staff", "HELP", "XYZZY", "mail from:<lower@example.com>",
        ];
        foreach (var command in commands)
        {
            Assert.Equal(AccessDenied503, await client.CommandAsync(command));
        }

        // A BDAT chunk is read and dropped with its command, never taken for commands.
        await client.SendAsync("BDAT 6 LAST\r\nNOOP\r\n");
        Assert.Equal(AccessDenied503, await client.ReadReplyAsync());

        Assert.Equal("221 Bye", await client.CommandAsync("QUIT"));
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task ThrowingSmtpRejectedExceptionFromValidateHostDeniesAccessWithItsMessage()
    {
        await using var server = TestServer.Start(o => o.ValidateHost = (_, _) => throw new SmtpRejectedException("I hate you."));
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        Assert.Equal("550 Access denied: I hate you.", greeting);
        Assert.Equal(AccessDenied503, await client.CommandAsync("EHLO client.test"));
        Assert.Equal("221 Bye", await client.CommandAsync("QUIT"));
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task AValidateHostRejectionWithAnExplicitReplyIsTheGreeting()
    {
        await using var server = TestServer.Start(o => o.ValidateHost = (_, _) =>
            ValueTask.FromResult(SmtpVerdict.Reject(554, "5.7.1", "No SMTP service here")));
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        // No enhanced status code before EHLO has advertised ENHANCEDSTATUSCODES (RFC 2034 3).
        Assert.Equal("554 No SMTP service here", greeting);
        Assert.Equal(AccessDenied503, await client.CommandAsync("EHLO client.test"));
        Assert.Equal("221 Bye", await client.CommandAsync("QUIT"));
    }

    [Fact]
    public async Task AHostRejectionReasonWithLineBreaksCannotForgeReplyLines()
    {
        await using var server = TestServer.Start(o => o.ValidateHost = (_, _) =>
            ValueTask.FromResult(SmtpVerdict.Reject("bad\r\n220 fake.example ready")));
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        Assert.StartsWith("550 Access denied: bad", greeting, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", greeting, StringComparison.Ordinal);
        // The next reply the client reads is the one for its QUIT, not a forged 220.
        Assert.Equal("221 Bye", await client.CommandAsync("QUIT"));
    }

    [Fact]
    public async Task AValidateHostThatFailsUnexpectedlyGets451AndTheNextConnectionIsServed()
    {
        var calls = 0;
        await using var server = TestServer.Start(o => o.ValidateHost = (_, _) =>
            Interlocked.Increment(ref calls) == 1 ? throw new InvalidOperationException("database down") : ValueTask.FromResult(SmtpVerdict.Accept));

        var (first, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using (first)
        {
            Assert.Equal("451 Requested action aborted: local error in processing", greeting);
            Assert.Equal(AccessDenied503, await first.CommandAsync("EHLO client.test"));
            Assert.Equal("221 Bye", await first.CommandAsync("QUIT"));
        }

        await using var second = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(second, "alice@example.com", ["bob@example.com"], "Subject: hi\r\n\r\nhello"));
        Assert.Single(server.Messages);
    }

    [Fact]
    public async Task ValidateHostCanAcceptWithAGreetingOfItsOwn()
    {
        await using var server = TestServer.Start(o => o.ValidateHost = (_, _) =>
            ValueTask.FromResult(SmtpVerdict.AcceptWith(new SmtpReply(220, null, "custom.example welcomes you"))));
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        Assert.Equal("220 custom.example welcomes you", greeting);
        Assert.StartsWith("250-", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(SenderRejections))]
    public async Task ASenderRejectionGetsItsReplyWithoutTheReasonAndTheSessionContinues(string outcome, string expectedReply)
    {
        var calls = 0;
        await using var server = TestServer.Start(o => o.ValidateSender = (_, _, _) =>
            Interlocked.Increment(ref calls) == 1 ? Outcome(outcome) : ValueTask.FromResult(SmtpVerdict.Accept));
        await using var client = await server.ConnectAndEhloAsync();

        var reply = await client.CommandAsync("MAIL FROM:<denied@example.com>");

        Assert.Equal(expectedReply, reply);
        Assert.DoesNotContain("secret", reply, StringComparison.Ordinal);
        // No transaction was opened...
        Assert.StartsWith("503 5.5.1 ", await client.CommandAsync("RCPT TO:<bob@example.com>"), StringComparison.Ordinal);
        // ...and the next MAIL starts one.
        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "alice@example.com", ["bob@example.com"], "Subject: hi\r\n\r\nhello"));
        Assert.Equal("alice@example.com", Assert.Single(server.Messages).Envelope.SenderAddress);
    }

    [Fact]
    public async Task ValidateSenderGetsTheMailboxOrNullForTheNullReversePath()
    {
        var senders = new List<SmtpMailbox?>();
        await using var server = TestServer.Start(o => o.ValidateSender = (_, sender, _) =>
        {
            lock (senders)
            {
                senders.Add(sender);
            }

            return ValueTask.FromResult(SmtpVerdict.Accept);
        });
        await using var client = await server.ConnectAndEhloAsync();

        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<Alice.Smith@Example.COM>"));
        Assert.Equal("250 2.0.0 Reset OK", await client.CommandAsync("RSET"));
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<>"));

        Assert.Equal(2, senders.Count);
        Assert.Equal("Alice.Smith", senders[0]!.LocalPart);
        Assert.Equal("Example.COM", senders[0]!.Domain);
        Assert.Null(senders[1]);
    }

    [Theory]
    [MemberData(nameof(RecipientRejections))]
    public async Task ARecipientRejectionGetsItsReplyWithoutTheReasonAndTheOthersStillGetTheMessage(string outcome, string expectedReply)
    {
        await using var server = TestServer.Start(o => o.ValidateRecipient = (_, rcpt, _) =>
            rcpt.LocalPart == "denied" ? Outcome(outcome) : ValueTask.FromResult(SmtpVerdict.Accept));
        await using var client = await server.ConnectAndEhloAsync();

        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<alice@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<bob@example.com>"));
        var reply = await client.CommandAsync("RCPT TO:<denied@example.com>");
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<carol@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Message accepted", await client.CommandAsync("Subject: hi\r\n\r\nhello\r\n."));

        Assert.Equal(expectedReply, reply);
        Assert.DoesNotContain("secret", reply, StringComparison.Ordinal);
        Assert.Equal(["bob@example.com", "carol@example.com"], Assert.Single(server.Messages).Envelope.Recipients.Select(r => r.Address));
    }

    [Fact]
    public async Task WhenEveryRecipientIsRejectedDataIsRefusedAndNothingIsDelivered()
    {
        await using var server = TestServer.Start(o => o.ValidateRecipient = (_, _, _) => ValueTask.FromResult(SmtpVerdict.Reject()));
        await using var client = await server.ConnectAndEhloAsync();

        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<alice@example.com>"));
        Assert.Equal("550 5.7.1 Recipient rejected", await client.CommandAsync("RCPT TO:<bob@example.com>"));
        Assert.Equal("503 5.5.1 Bad sequence of commands: need RCPT before DATA", await client.CommandAsync("DATA"));
        // The content a client might send anyway is read as commands, and none of it is delivered.
        Assert.Equal("221 2.0.0 Bye", await client.CommandAsync("QUIT"));
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task DeliverMimeTakesPrecedenceOverDeliverAndDeliverLines()
    {
        var mimeCalls = 0;
        var otherCalls = 0;
        string? subject = null;
        string? body = null;
        string[]? recipients = null;
        string? sender = null;
        await using var server = TestServer.Start(o =>
        {
            o.Deliver = (_, _) =>
            {
                Interlocked.Increment(ref otherCalls);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
            o.DeliverLines = (_, _, _, _, _) =>
            {
                Interlocked.Increment(ref otherCalls);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
            o.DeliverMime = (message, mime, _) =>
            {
                Interlocked.Increment(ref mimeCalls);
                subject = mime.Subject;
                body = mime.TextBody;
                sender = message.Envelope.SenderAddress;
                recipients = message.Envelope.Recipients.Select(r => r.Address).ToArray();
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
        });
        await using var client = await server.ConnectAndEhloAsync();

        var content = "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
            + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            + "Hallo Bob, sch=C3=B6ne Gr=C3=BC=C3=9Fe.";
        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "alice@example.com", ["bob@example.com", "hidden@example.com"], content));

        Assert.Equal(1, mimeCalls);
        Assert.Equal(0, otherCalls);
        Assert.Equal("Grüße", subject);
        Assert.Equal("Hallo Bob, schöne Grüße.", body?.TrimEnd());
        Assert.Equal("alice@example.com", sender);
        Assert.Equal(["bob@example.com", "hidden@example.com"], recipients!);
    }

    [Fact]
    public async Task DeliverTakesPrecedenceOverDeliverLines()
    {
        var linesCalls = 0;
        await using var server = TestServer.Start(o => o.DeliverLines = (_, _, _, _, _) =>
        {
            Interlocked.Increment(ref linesCalls);
            return ValueTask.FromResult(SmtpVerdict.Accept);
        });
        await using var client = await server.ConnectAndEhloAsync();

        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "alice@example.com", ["bob@example.com"], "Subject: hi\r\n\r\nhello"));

        // TestServer's own Deliver callback recorded the message; DeliverLines was never called.
        Assert.Single(server.Messages);
        Assert.Equal(0, linesCalls);
    }

    [Fact]
    public async Task DeliverLinesGetsTheSenderTheRecipientsAndTheUnstuffedLines()
    {
        var calls = new List<(string Sender, string[] Recipients, string[] Lines, SmtpSessionContext Session)>();
        await using var server = TestServer.Start(o =>
        {
            o.Deliver = null;
            o.DeliverLines = (sender, recipients, lines, session, _) =>
            {
                lock (calls)
                {
                    calls.Add((sender, recipients.ToArray(), lines.ToArray(), session));
                }

                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
        });
        await using var client = await server.ConnectAndEhloAsync();

        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<alice@example.com> BODY=8BITMIME"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<bob@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<carol@example.org>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Message accepted", await client.CommandAsync("Subject: lines\r\n\r\nfirst\r\n..stuffed\r\n\r\nGrüße 你好\r\n..\r\n."));
        // A bounce: the null reverse-path reaches DeliverLines as the empty string.
        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "", ["postmaster@example.com"], "Subject: bounce\r\n\r\nundeliverable"));

        Assert.Equal(2, calls.Count);
        Assert.Equal("alice@example.com", calls[0].Sender);
        Assert.Equal(["bob@example.com", "carol@example.org"], calls[0].Recipients);
        Assert.Equal(["Subject: lines", "", "first", ".stuffed", "", "Grüße 你好", "."], calls[0].Lines);
        Assert.Equal("client.test", calls[0].Session.HeloName);
        Assert.Equal("", calls[1].Sender);
        Assert.Equal(["postmaster@example.com"], calls[1].Recipients);
        Assert.Equal(["Subject: bounce", "", "undeliverable"], calls[1].Lines);
    }

    [Fact]
    public async Task DeliverGetsTheExactBytesOfDataContentAfterUnstuffing()
    {
        SmtpMessage? seen = null;
        long size = -1;
        byte[]? first = null;
        byte[]? second = null;
        await using var server = TestServer.Start(o => o.Deliver = async (message, ct) =>
        {
            seen = message;
            size = message.Size;
            first = await ReadAllAsync(message.OpenRead(), ct);
            await using var again = message.OpenRead();
            again.Seek(5, SeekOrigin.Begin);
            second = await ReadAllAsync(again, ct);
            return SmtpVerdict.Accept;
        });
        await using var client = await server.ConnectAndEhloAsync();

        var content = Concat(
            "From: a@example.com\r\nSubject: bytes\r\n\r\n"u8,
            [0x63, 0x61, 0x66, 0xC3, 0xA9, 0x20, 0xFF, 0xFE, 0x80, (byte)'\r', (byte)'\n'],
            ".leading dot\r\n...\r\n.\r\ntrailing spaces   \r\n\r\n\ttab\r\n"u8);
        var wire = Concat(Stuff(content), ".\r\n"u8);
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync($"MAIL FROM:<a@example.com> SIZE={content.Length} BODY=8BITMIME"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync(wire);
        Assert.Equal("250 2.0.0 Message accepted", await client.ReadReplyAsync());

        Assert.NotNull(seen);
        Assert.Equal(content, first);
        Assert.Equal(content[5..], second);
        Assert.Equal(content.Length, size);
        Assert.Equal(content.Length, seen.Envelope.DeclaredSize);
        Assert.Equal(SmtpBodyType.EightBitMime, seen.Envelope.Body);
        Assert.False(seen.Envelope.SmtpUtf8);
    }

    [Fact]
    public async Task DeliverGetsTheExactOctetsOfBdatChunks()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        byte[] chunk1 = [0, (byte)'\n', (byte)'.', (byte)'\r', (byte)'\n', 0xFF, (byte)'\r', (byte)'.', (byte)'.', (byte)'\n'];
        byte[] chunk2 = [.. "\r\n.\r\n"u8, 0x80];

        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@example.com> BODY=BINARYMIME"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<b@example.com>"));
        await client.SendAsync(Concat("BDAT 10\r\n"u8, chunk1));
        Assert.Equal("250 2.0.0 10 octets received", await client.ReadReplyAsync());
        await client.SendAsync(Concat("BDAT 6 LAST\r\n"u8, chunk2));
        Assert.Equal("250 2.0.0 Message accepted", await client.ReadReplyAsync());

        var received = Assert.Single(server.Messages);
        Assert.Equal(Concat(chunk1, chunk2), received.Content);
        Assert.Equal(SmtpBodyType.BinaryMime, received.Envelope.Body);
    }

    [Theory]
    [MemberData(nameof(DeliveryRejections))]
    public async Task ADeliveryThatRejectsOrFailsIsNeverAnswered2xxAndTheSessionContinues(string callback, string outcome, string expectedReply)
    {
        var calls = 0;
        ValueTask<SmtpVerdict> Decide() => Interlocked.Increment(ref calls) == 1 ? Outcome(outcome) : ValueTask.FromResult(SmtpVerdict.Accept);
        await using var server = TestServer.Start(o =>
        {
            o.Deliver = null;
            switch (callback)
            {
                case "Deliver":
                    o.Deliver = (_, _) => Decide();
                    break;
                case "DeliverMime":
                    o.DeliverMime = (_, _, _) => Decide();
                    break;
                default:
                    o.DeliverLines = (_, _, _, _, _) => Decide();
                    break;
            }
        });
        await using (var client = await server.ConnectAndEhloAsync())
        {
            var reply = await SendMessageAsync(client, "alice@example.com", ["bob@example.com"], "Subject: one\r\n\r\nfirst");
            Assert.Equal(expectedReply, reply);
            Assert.DoesNotContain("secret", reply, StringComparison.Ordinal);
            Assert.False(reply.StartsWith('2'));

            // The same session carries on with a new transaction.
            Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
            Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "alice@example.com", ["bob@example.com"], "Subject: two\r\n\r\nsecond"));
            Assert.Equal("221 2.0.0 Bye", await client.CommandAsync("QUIT"));
        }

        // And the server keeps serving new sessions.
        await using var next = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(next, "alice@example.com", ["bob@example.com"], "Subject: three\r\n\r\nthird"));
        Assert.Equal(3, calls);
    }

    [Theory]
    [InlineData("Reject", "554 5.6.0 Message rejected")]
    [InlineData("Fail", LocalError451)]
    public async Task ABdatDeliveryThatRejectsOrFailsIsNeverAnswered2xx(string outcome, string expectedReply)
    {
        await using var server = TestServer.Start(o => o.Deliver = (_, _) => Outcome(outcome));
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<b@example.com>"));
        await client.SendAsync("BDAT 16 LAST\r\nSubject: x\r\n\r\nyz");
        Assert.Equal(expectedReply, await client.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task ACallbackThatThrowsSynchronouslyGets451()
    {
        await using var server = TestServer.Start(o => o.ValidateRecipient = (_, _, _) => throw new InvalidOperationException("secret"));
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal(LocalError451, await client.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task AcceptWithRepliesWithTheCallbacksOwnText()
    {
        await using var server = TestServer.Start(o =>
        {
            o.ValidateSender = (_, _, _) => ValueTask.FromResult(SmtpVerdict.AcceptWith(new SmtpReply(250, "2.1.0", "Sender welcome")));
            o.ValidateRecipient = (_, rcpt, _) => ValueTask.FromResult(SmtpVerdict.AcceptWith(new SmtpReply(251, "2.1.5", $"User not local; will forward to {rcpt.Domain}")));
            o.Deliver = (_, _) => ValueTask.FromResult(SmtpVerdict.AcceptWith(new SmtpReply(250, "2.0.0", "Queued as 1234")));
        });
        await using var client = await server.ConnectAndEhloAsync();

        Assert.Equal("250 2.1.0 Sender welcome", await client.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("251 2.1.5 User not local; will forward to example.org", await client.CommandAsync("RCPT TO:<b@example.org>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Queued as 1234", await client.CommandAsync("Subject: x\r\n\r\ny\r\n."));
        await client.SendAsync("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.org>\r\nBDAT 3 LAST\r\nabc");
        Assert.Equal(
            ["250 2.1.0 Sender welcome", "251 2.1.5 User not local; will forward to example.org", "250 2.0.0 Queued as 1234"],
            await client.ReadRepliesAsync(3));

        Assert.Throws<ArgumentException>(() => SmtpVerdict.AcceptWith(new SmtpReply(550, "5.0.0", "not an acceptance")));
        Assert.Throws<ArgumentException>(() => SmtpVerdict.Reject(new SmtpReply(250, "2.0.0", "not a rejection")));
    }

    [Fact]
    public async Task EveryCallbackReceivesTheSameSessionContext()
    {
        var seen = new List<(string Callback, SmtpSessionContext Session, string? Helo)>();
        void Note(string callback, SmtpSessionContext session)
        {
            lock (seen)
            {
                seen.Add((callback, session, session.HeloName));
            }
        }

        await using var server = TestServer.Start(o =>
        {
            o.ValidateHost = (s, _) =>
            {
                Note("host", s);
                s.Properties["tag"] = "from host";
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
            o.ValidateSender = (s, _, _) =>
            {
                Note("sender", s);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
            o.ValidateRecipient = (s, _, _) =>
            {
                Note("recipient", s);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
            o.Deliver = null;
            o.DeliverLines = (_, _, _, s, _) =>
            {
                Note("lines", s);
                s.Properties["delivered"] = true;
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
        });

        await using (var client = await server.ConnectAndEhloAsync())
        {
            Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "a@example.com", ["b@example.com"], "Subject: x\r\n\r\ny"));
            Assert.Equal(["host", "sender", "recipient", "lines"], seen.Select(s => s.Callback));
            var session = seen[0].Session;
            Assert.All(seen, s => Assert.Same(session, s.Session));
            Assert.False(string.IsNullOrEmpty(session.Id));
            Assert.Equal(client.Socket.LocalEndPoint, session.RemoteEndPoint);
            Assert.Equal(server.EndPoint, session.LocalEndPoint);
            Assert.Equal([null, "client.test", "client.test", "client.test"], seen.Select(s => s.Helo));
            Assert.True(session.IsExtended);
            Assert.False(session.IsSecure);
            Assert.Equal("from host", session.Properties["tag"]);
        }

        await using (var other = await server.ConnectAndEhloAsync())
        {
            Assert.Equal(5, seen.Count);
            Assert.NotEqual(seen[0].Session.Id, seen[4].Session.Id);
            // Properties belong to one session.
            Assert.True(seen[0].Session.Properties.ContainsKey("delivered"));
            Assert.False(seen[4].Session.Properties.ContainsKey("delivered"));
            Assert.Equal(other.Socket.LocalEndPoint, seen[4].Session.RemoteEndPoint);
        }
    }

    [Fact]
    public async Task CallbacksGetATokenThatServerShutdownCancels()
    {
        var tokens = new List<CancellationToken>();
        var delivering = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var time = new TestClock();
        await using var server = TestServer.StartWithClock(time, o =>
        {
            o.ValidateSender = (_, _, ct) =>
            {
                tokens.Add(ct);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
            o.Deliver = async (_, ct) =>
            {
                tokens.Add(ct);
                delivering.SetResult();
                try
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, ct);
                }
                catch (OperationCanceledException)
                {
                    cancelled.SetResult();
                    throw;
                }

                return SmtpVerdict.Accept;
            };
        });
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await client.SendAsync("Subject: x\r\n\r\ny\r\n.\r\n");
        await delivering.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.All(tokens, t => Assert.True(t.CanBeCanceled));
        Assert.All(tokens, t => Assert.False(t.IsCancellationRequested));

        // The drain gives the delivery its time (on the server's clock), then cancels it.
        var stopping = server.Server.StopAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.False(cancelled.Task.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(30));
        await stopping.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal("421 4.3.2 Service shutting down, closing connection", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task AShutdownDuringHostValidationCancelsItAndTheClientGets421()
    {
        var validating = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = TestServer.Start(o => o.ValidateHost = async (_, ct) =>
        {
            validating.SetResult();
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            }
            catch (OperationCanceledException)
            {
                cancelled.SetResult();
                throw;
            }

            return SmtpVerdict.Accept;
        });
        await using var client = await server.ConnectAsync();
        await validating.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        await server.Server.StopAsync(TimeSpan.Zero, Ct);

        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal("421 Service shutting down, closing connection", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task AMessageKeptPastItsCallbackCannotBeReadAgainNorShowTheNextMessage()
    {
        // SmtpMessage.OpenRead documents ObjectDisposedException once the delivery callback has completed.
        var kept = new List<SmtpMessage>();
        Exception? afterFirst = null;
        Exception? duringSecond = null;
        byte[]? leaked = null;
        await using var server = TestServer.Start(o => o.Deliver = async (message, ct) =>
        {
            kept.Add(message);
            if (kept.Count == 2)
            {
                try
                {
                    leaked = await ReadAllAsync(kept[0].OpenRead(), ct);
                }
                catch (Exception ex)
                {
                    duringSecond = ex;
                }
            }

            return SmtpVerdict.Accept;
        });
        await using var client = await server.ConnectAndEhloAsync();

        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "a@example.com", ["b@example.com"], "Subject: first\r\n\r\nfirst message"));
        afterFirst = Record.Exception(() => kept[0].OpenRead().Dispose());
        Assert.Equal("250 2.0.0 Message accepted", await SendMessageAsync(client, "a@example.com", ["b@example.com"], "Subject: second\r\n\r\nsecond message"));

        Assert.True(leaked is null, $"The first message, read during the second delivery, gave the second message's content: {(leaked is null ? "" : Encoding.UTF8.GetString(leaked))}");
        Assert.IsType<ObjectDisposedException>(duringSecond);
        Assert.IsType<ObjectDisposedException>(afterFirst);
    }

    [Fact]
    public async Task ACallbackTokenIsCancelledWhenTheClientDisconnects()
    {
        // Every callback delegate documents: "Cancelled when the server shuts down or the connection closes."
        var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var time = new TestClock();
        await using var server = TestServer.StartWithClock(time, o => o.ValidateSender = async (_, _, ct) =>
        {
            waiting.SetResult();
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            }
            catch (OperationCanceledException)
            {
                cancelled.SetResult();
                throw;
            }

            return SmtpVerdict.Accept;
        });
        await using var client = await server.ConnectAndEhloAsync();
        await client.SendAsync("MAIL FROM:<a@example.com>\r\n");
        await waiting.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        await client.DisposeAsync();

        // The heartbeat (a tick of the clock) finds the waiting callback and watches the socket for the departure.
        await time.AdvanceUntilAsync(HeartbeatPeriod, cancelled.Task, "the callback's token was cancelled when the client went away");
    }

    [Fact]
    public async Task ASecondWaitingCallbackInTheSameSessionIsAlsoCancelledWhenTheClientDisconnects()
    {
        // The heartbeat starts one socket watch per waiting callback: the first watch, cancelled when its callback
        // finished, must not stop the second callback from being watched.
        var calls = 0;
        var firstWaiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirst = new TaskCompletionSource<SmtpVerdict>(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondWaiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var time = new TestClock();
        await using var server = TestServer.StartWithClock(time, o =>
        {
            o.ValidateSender = async (_, _, ct) =>
            {
                if (Interlocked.Increment(ref calls) == 1)
                {
                    firstWaiting.SetResult();
                    return await releaseFirst.Task;
                }

                secondWaiting.SetResult();
                try
                {
                    await Task.Delay(Timeout.InfiniteTimeSpan, ct);
                }
                catch (OperationCanceledException)
                {
                    secondCancelled.SetResult();
                    throw;
                }

                return SmtpVerdict.Accept;
            };
        });
        await using var client = await server.ConnectAndEhloAsync();
        await client.SendAsync("MAIL FROM:<a@example.com>\r\n");
        await firstWaiting.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        // Ticks of the heartbeat while the first callback waits start a watch for it; it then finishes normally.
        time.Advance(HeartbeatPeriod);
        time.Advance(HeartbeatPeriod);
        releaseFirst.SetResult(SmtpVerdict.Accept);
        Assert.Equal("250 2.1.0 Sender OK", await client.ReadReplyAsync());
        Assert.StartsWith("250", await client.CommandAsync("RSET"));
        await client.SendAsync("MAIL FROM:<b@example.com>\r\n");
        await secondWaiting.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        await client.DisposeAsync();

        await time.AdvanceUntilAsync(HeartbeatPeriod, secondCancelled.Task, "the second callback's token was cancelled when the client went away");
    }

    // The heartbeat ticks every second with the default timeouts (a quarter of the shortest, at most one second).
    private static TimeSpan HeartbeatPeriod => TimeSpan.FromSeconds(1);

    private static async ValueTask<SmtpVerdict> Outcome(string kind)
    {
        await Task.Yield();
        return kind switch
        {
            "Reject" => SmtpVerdict.Reject("secret reason"),
            "ThrowRejected" => throw new SmtpRejectedException("secret reason"),
            "RejectWithReply" => SmtpVerdict.Reject(553, "5.7.1", "Policy says no"),
            "ThrowRejectedWithReply" => throw new SmtpRejectedException(new SmtpReply(450, "4.7.1", "Greylisted, try again later")),
            "Fail" => throw new InvalidOperationException("secret failure"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
        };
    }

    /// <summary>Runs one DATA transaction; the content must not end with CRLF (the end marker adds it).</summary>
    private static async Task<string> SendMessageAsync(RawSmtpClient client, string from, string[] to, string content)
    {
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync($"MAIL FROM:<{from}>"));
        foreach (var recipient in to)
        {
            Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync($"RCPT TO:<{recipient}>"));
        }

        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        return await client.CommandAsync(content + "\r\n.");
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream, CancellationToken cancellationToken)
    {
        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, cancellationToken);
            return copy.ToArray();
        }
    }

    /// <summary>Dot-stuffs content that ends with CRLF (RFC 5321 4.5.2).</summary>
    private static byte[] Stuff(byte[] content)
    {
        var output = new List<byte>(content.Length + 16);
        var lineStart = true;
        foreach (var b in content)
        {
            if (lineStart && b == (byte)'.')
            {
                output.Add((byte)'.');
            }

            output.Add(b);
            lineStart = b == (byte)'\n';
        }

        return [.. output];
    }

    private static byte[] Concat(params ReadOnlySpan<byte[]> parts)
    {
        var output = new List<byte>();
        foreach (var part in parts)
        {
            output.AddRange(part);
        }

        return [.. output];
    }

    private static byte[] Concat(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => [.. a, .. b];

    private static byte[] Concat(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c) => [.. a, .. b, .. c];
}
