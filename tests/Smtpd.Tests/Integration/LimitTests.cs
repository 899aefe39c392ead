using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace Smtpd.Tests.Integration;

/// <summary>The reply each limit gives when it is breached, over a real socket.</summary>
public sealed class LimitTests
{
    [Fact]
    public async Task CommandLineOfExactly512OctetsIsAcceptedAnd513IsRejected()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        var exact = "NOOP " + new string('x', 512 - 5 - 2);
        Assert.Equal(512, exact.Length + 2);
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync(exact));
        Assert.Equal("500 5.5.2 Line too long (RFC 5321 4.5.3.1.4)", await client.CommandAsync(exact + "y"));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task LongerCommandLineLimitIsHonoured()
    {
        await using var server = TestServer.Start(o => o.MaxCommandLineLength = 2048);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP " + new string('x', 2000)));
    }

    [Fact]
    public async Task OneMegabyteWithoutLineFeedGetsOneErrorAndTheSessionResynchronises()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        var junk = Encoding.ASCII.GetBytes(new string('A', 1024 * 1024));
        await client.SendAsync(junk);
        await client.SendAsync("\r\nNOOP\r\n");
        Assert.Equal("500 5.5.2 Line too long (RFC 5321 4.5.3.1.4)", await client.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await client.ReadReplyAsync());
    }

    [Fact]
    public async Task DeclaredSizeOverTheLimitIsRefusedAtMail()
    {
        await using var server = TestServer.Start(o => o.MaxMessageSize = 1000);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("552 5.3.4 Message size exceeds fixed maximum message size", await client.CommandAsync("MAIL FROM:<a@b.example> SIZE=1001"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example> SIZE=1000"));
    }

    [Fact]
    public async Task ContentOverTheLimitIsDiscardedAnd552ComesAfterTheEndOfData()
    {
        await using var server = TestServer.Start(o => o.MaxMessageSize = 1000);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        var body = string.Concat(Enumerable.Repeat(new string('z', 98) + "\r\n", 20));
        Assert.Equal("552 5.3.4 Message size exceeds fixed maximum message size", await client.CommandAsync(body + "."));
        Assert.Empty(server.Messages);
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task BdatChunkOverTheLimitGets552AndLaterChunksGet503()
    {
        await using var server = TestServer.Start(o => o.MaxMessageSize = 10);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        await client.SendAsync("BDAT 11\r\n01234567890");
        Assert.Equal("552 5.3.4 Message size exceeds fixed maximum message size", await client.ReadReplyAsync());
        await client.SendAsync("BDAT 3 LAST\r\nabc");
        Assert.StartsWith("503 5.5.1", await client.ReadReplyAsync());
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task RecipientsBeyondTheLimitGet452()
    {
        await using var server = TestServer.Start(o => o.MaxRecipients = 3);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        for (var i = 0; i < 3; i++)
        {
            Assert.StartsWith("250", await client.CommandAsync($"RCPT TO:<r{i}@b.example>"));
        }

        Assert.Equal("452 4.5.3 Too many recipients", await client.CommandAsync("RCPT TO:<r3@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("x\r\n."));
        Assert.Equal(3, (await server.WaitForMessageAsync()).Envelope.Recipients.Count);
    }

    [Fact]
    public async Task DefaultRecipientLimitAcceptsOneHundred()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        await client.SendAsync("MAIL FROM:<a@b.example>\r\n" + string.Concat(Enumerable.Range(0, 101).Select(i => $"RCPT TO:<r{i}@b.example>\r\n")));
        var replies = await client.ReadRepliesAsync(102);
        Assert.All(replies[..101], r => Assert.StartsWith("250", r));
        Assert.Equal("452 4.5.3 Too many recipients", replies[101]);
    }

    [Fact]
    public async Task TooManyBadCommandsEndWith421AndAClose()
    {
        await using var server = TestServer.Start(o => o.MaxErrors = 3);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("500", await client.CommandAsync("ONE"));
        Assert.StartsWith("501", await client.CommandAsync("MAIL FROM:bad"));
        await client.SendAsync("THREE\r\n");
        Assert.Equal("500 5.5.2 Command unrecognized", await client.ReadReplyAsync());
        Assert.Equal("421 4.7.0 Too many errors, closing connection", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task DefaultErrorLimitIsTwenty()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        await client.SendAsync(string.Concat(Enumerable.Repeat("XYZZY\r\n", 20)));
        var replies = await client.ReadRepliesAsync(21);
        Assert.All(replies[..20], r => Assert.StartsWith("500", r));
        Assert.StartsWith("421", replies[20]);
    }

    [Fact]
    public async Task IdleClientIsCutOffWith421AfterTheCommandTimeoutAndNotBefore()
    {
        var time = new FakeTimeProvider();
        await using var server = TestServer.StartWithClock(time);
        await using var client = await server.ConnectAndEhloAsync();
        var timeout = server.Server.Options.CommandTimeout;

        // One second short of the timeout the client is still served, and its next line has a fresh deadline.
        time.Advance(timeout - TimeSpan.FromSeconds(1));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        time.Advance(timeout - TimeSpan.FromSeconds(1));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));

        time.Advance(timeout);
        Assert.Equal("421 4.4.2 Timeout, closing connection", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task StalledDataIsCutOffWith421AfterTheDataTimeout()
    {
        var time = new FakeTimeProvider();
        // The minimum data rate is off: one jump of the fake clock passes its grace period as well, and which of
        // the two cut-offs then fires first would depend on timer order, not on the data timeout under test.
        await using var server = TestServer.StartWithClock(time, o =>
        {
            o.DataTimeout = TimeSpan.FromMinutes(3);
            o.MinimumDataRate = 0;
        });
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));

        // The partial line comes with DATA, so the data deadline is set before the 354 is sent.
        Assert.StartsWith("354", await client.CommandAsync("DATA\r\npartial line"));
        time.Advance(TimeSpan.FromMinutes(3));
        Assert.Equal("421 4.4.2 Timeout, closing connection", await client.ReadReplyAsync());
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task ConnectionsOverTheSessionLimitGet421()
    {
        await using var server = TestServer.Start(o => o.MaxSessions = 2);
        var (first, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        var (second, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var third = await server.ConnectAsync();
        Assert.Equal("421 Too many connections, try again later", await third.ReadReplyAsync());
        Assert.True(await third.IsClosedByServerAsync());

        await first.CommandAsync("QUIT");
        Assert.True(await first.IsClosedByServerAsync());
        await Eventually.WaitUntilAsync(() => server.Server.SessionCount < 2);
        var (fourth, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        Assert.StartsWith("220", greeting);
        await fourth.DisposeAsync();
        await second.DisposeAsync();
        await first.DisposeAsync();
    }

    [Fact]
    public async Task ConnectionsOverThePerClientLimitGet421()
    {
        await using var server = TestServer.Start(o => o.MaxSessionsPerClient = 1);
        var (first, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _1 = first;
        await using var second = await server.ConnectAsync();
        Assert.Equal("421 Too many connections from your address, try again later", await second.ReadReplyAsync());
    }

    [Fact]
    public async Task AnExemptNetworkIsNotHeldToThePerClientLimitButTheSessionLimitStillApplies()
    {
        await using var server = TestServer.Start(o =>
        {
            o.MaxSessionsPerClient = 1;
            o.MaxSessions = 3;
            o.MaxSessionsPerClientExemptions = [new System.Net.IPNetwork(System.Net.IPAddress.Loopback, 8)];
        });
        var open = new List<RawSmtpClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
                open.Add(client);
                Assert.StartsWith("220 ", greeting);
            }

            await using var fourth = await server.ConnectAsync();
            Assert.Equal("421 Too many connections, try again later", await fourth.ReadReplyAsync());
        }
        finally
        {
            foreach (var client in open)
            {
                await client.DisposeAsync();
            }
        }
    }

    [Theory]
    [InlineData(BareLineEndingPolicy.Reject, "a\n.\n")]
    [InlineData(BareLineEndingPolicy.Normalize, "a\n.\n")]
    [InlineData(BareLineEndingPolicy.Normalize, "a\r\n.\n")]
    public async Task ALoneDotWithABareLineFeedGets421AtOnceInsteadOfWaitingForTheDataTimeout(BareLineEndingPolicy policy, string content)
    {
        // The data timeout is far longer than the test may take: the 421 comes from the marker itself.
        await using var server = TestServer.Start(o => o.BareLineEndings = policy);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        await client.SendAsync(Encoding.ASCII.GetBytes(content));
        Assert.Equal("421 4.5.0 Lone dot next to a bare CR or LF; end data with <CR><LF>.<CR><LF> (RFC 5321 4.1.1.4); closing connection", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task LongTextLineIsRejectedAfterTheEndOfData()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.Equal("500 5.5.2 Line too long in message text (RFC 5321 4.5.3.1.6)", await client.CommandAsync(new string('x', 999) + "\r\n."));
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task TextLineOfExactly1000OctetsIsAccepted()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Message accepted", await client.CommandAsync(new string('x', 998) + "\r\n."));
    }

    [Fact]
    public async Task BareLineFeedInDataIsRejectedByDefault()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.Equal("550 5.6.0 Message contains bare CR or LF; lines must end with CRLF (RFC 5321 2.3.8)", await client.CommandAsync("a\nb\r\n."));
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task BareLineFeedInDataIsNormalisedWhenConfigured()
    {
        await using var server = TestServer.Start(o => o.BareLineEndings = BareLineEndingPolicy.Normalize);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("a\nb\rc\r\n."));
        Assert.Equal("a\r\nb\r\nc\r\n", (await server.WaitForMessageAsync()).Text);
    }

    [Fact]
    public async Task SmallMemoryThresholdSpillsToTheSpoolDirectoryAndDeliversExactly()
    {
        var spool = Directory.CreateTempSubdirectory("smtpd-spool-");
        try
        {
            var sawFile = false;
            TestServer? test = null;
            await using var server = test = TestServer.Start(o =>
            {
                o.MessageMemoryThreshold = 4096;
                o.SpoolDirectory = spool.FullName;
                o.Deliver = async (message, ct) =>
                {
                    sawFile = Directory.EnumerateFiles(spool.FullName).Any();
                    await using var stream = message.OpenRead();
                    using var copy = new MemoryStream();
                    await stream.CopyToAsync(copy, ct);
                    test!.Record(new ReceivedMessage(message.Envelope, copy.ToArray(), message.Session));
                    return SmtpVerdict.Accept;
                };
            });
            await using var client = await server.ConnectAndEhloAsync();
            Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
            Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
            Assert.StartsWith("354", await client.CommandAsync("DATA"));
            var body = string.Concat(Enumerable.Range(0, 500).Select(i => $"line {i:D5} of the message\r\n"));
            Assert.StartsWith("250", await client.CommandAsync(body + "."));
            Assert.Equal(body, (await server.WaitForMessageAsync()).Text);
            Assert.True(sawFile);
            Assert.Empty(Directory.EnumerateFiles(spool.FullName));
        }
        finally
        {
            spool.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task JunkCommandsBeyondTheLimitEndTheSessionWith421()
    {
        await using var server = TestServer.Start(o => o.MaxJunkCommands = 3);
        await using var client = await server.ConnectAndEhloAsync();
        await client.SendAsync("NOOP\r\nRSET\r\nVRFY x\r\nHELP\r\n");
        var replies = await client.ReadRepliesAsync(4);
        Assert.StartsWith("250", replies[0]);
        Assert.StartsWith("252", replies[2]);
        Assert.Equal("421 4.7.0 Too many commands without a message, closing connection", replies[3]);
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task TheJunkCountRestartsAfterAnAcceptedMessage()
    {
        await using var server = TestServer.Start(o => o.MaxJunkCommands = 2);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("NOOP"));
        Assert.StartsWith("250", await client.CommandAsync("NOOP"));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("x\r\n."));
        Assert.StartsWith("250", await client.CommandAsync("NOOP"));
        Assert.StartsWith("250", await client.CommandAsync("NOOP"));
        Assert.StartsWith("421", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task ACommandTrickledOneOctetAtATimeIsCutOffByTheWholeLineDeadline()
    {
        var time = new FakeTimeProvider();
        await using var server = TestServer.StartWithClock(time, o => o.CommandTimeout = TimeSpan.FromSeconds(40));
        await using var client = await server.ConnectAndEhloAsync();

        // Each octet comes 5 s after the last, well within the timeout, but the line as a whole never does. The
        // line's 40 s start when the server waits for it: after the EHLO reply, at the latest when the first octet
        // comes (t = 5 s). 7 octets come, the last at t = 35 s, then the clock goes to t = 45 s: past the line's
        // deadline however late it was set, and 30 s short of a timeout counted from the last octet, under which no
        // reply would come. No octet is sent after the deadline: one arriving after the server closed would make it
        // reset the connection, which can discard the 421 before it is read.
        const string line = "NOOP with a long trickled argument";
        for (var i = 0; i < 7; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            await client.SendAsync(line[i].ToString());
        }

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal("421 4.4.2 Timeout, closing connection", await client.ReadReplyAsync());
    }

    [Fact]
    public async Task ContentTrickledBelowTheMinimumDataRateIsCutOff()
    {
        var time = new FakeTimeProvider();
        await using var server = TestServer.StartWithClock(time, o =>
        {
            o.MinimumDataRate = 1000;
            o.MinimumDataRateGracePeriod = TimeSpan.FromSeconds(5);
        });
        await using var client = await server.ConnectAndEhloAsync();
        await client.CommandAsync("MAIL FROM:<a@b.example>");
        await client.CommandAsync("RCPT TO:<r@b.example>");
        Assert.StartsWith("354", await client.CommandAsync("DATA"));

        // 2,001 octets 8 s after DATA is under the 3,000 that 1,000/s asks for the 3 s after the grace period.
        await client.SendAsync(new string('x', 998) + "\r\n" + new string('x', 998) + "\r\n");
        time.Advance(TimeSpan.FromSeconds(8));
        await client.SendAsync("x");

        Assert.Equal("421 4.4.2 Data arriving too slowly, closing connection", await client.ReadReplyAsync());
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task ContentAtAHealthyRateIsNotCutOff()
    {
        var time = new TestClock();
        await using var server = TestServer.StartWithClock(time, o =>
        {
            o.MinimumDataRate = 100;
            o.MinimumDataRateGracePeriod = TimeSpan.FromSeconds(1);
        });
        await using var client = await server.ConnectAndEhloAsync();
        await client.CommandAsync("MAIL FROM:<a@b.example>");
        await client.CommandAsync("RCPT TO:<r@b.example>");
        Assert.StartsWith("354", await client.CommandAsync("DATA"));

        // 202 octets a second, twice the minimum, for ten seconds. The clock moves only once the server has read the
        // second's octets (it reads the clock after every read of content): advanced any earlier, the heartbeat would
        // measure a rate the client never had.
        for (var i = 0; i < 10; i++)
        {
            var reads = time.Reads;
            await client.SendAsync(new string('y', 200) + "\r\n");
            await time.WaitForReadAfterAsync(reads);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.StartsWith("250", await client.CommandAsync("."));
    }
}
