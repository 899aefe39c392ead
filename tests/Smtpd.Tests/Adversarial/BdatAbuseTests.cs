namespace Smtpd.Tests.Adversarial;

/// <summary>
/// Issue 7's BDAT list (RFC 3030): empty chunks, sizes that cannot be read, chunks over the size limit, a LAST chunk
/// that never completes, and the DATA/BDAT mix. The basic cases are in <c>Integration/StateMachineTests</c>,
/// <c>LimitTests</c> and <c>LargeMessageTests</c>.
/// </summary>
public sealed class BdatAbuseTests
{
    private const string Head = "EHLO client.test\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\n";

    [Fact]
    public async Task EmptyChunksAreAcceptedAndAnEmptyLastChunkAloneDeliversAnEmptyMessage()
    {
        await using var server = TestServer.Start();
        var script = Head + "BDAT 0\r\nBDAT 0\r\nBDAT 3\r\nabcBDAT 0 LAST\r\n"
            + "MAIL FROM:<b@b.example>\r\nRCPT TO:<r@b.example>\r\nBDAT 0 LAST\r\nQUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Wire.AssertWellFormed(transcript);
        Assert.Equal(
            [
                "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 0 octets received", "250 2.0.0 0 octets received",
                "250 2.0.0 3 octets received", "250 2.0.0 Message accepted",
                "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 Message accepted", "221 2.0.0 Bye",
            ],
            transcript.Replies[1..]);
        Assert.Equal(["abc", ""], server.Messages.Select(m => m.Text));
    }

    [Theory]
    [InlineData("BDAT")]
    [InlineData("BDAT ")]
    [InlineData("BDAT -1")]
    [InlineData("BDAT +5")]
    [InlineData("BDAT 1x")]
    [InlineData("BDAT 0x10")]
    [InlineData("BDAT 1e3")]
    [InlineData("BDAT 5 NOTLAST")]
    [InlineData("BDAT 5 LAST extra")]
    [InlineData("BDAT 5  LAST")]
    [InlineData("BDAT \u00d9\u00a1\u00d9\u00a2")]
    [InlineData("BDAT 1234567890123456789")]
    [InlineData("BDAT 99999999999999999999999999999999")]
    public async Task AChunkSizeThatCannotBeReadGets501AndTheConnectionCloses(string command)
    {
        // Without a size the end of the chunk cannot be known, so nothing after the command may be read as commands.
        await using var server = TestServer.Start();
        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(Head + command + "\r\nQUIT\r\nNOOP\r\n"));

        Wire.AssertWellFormed(transcript);
        Assert.Equal(["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "501 5.5.4 Syntax error: use BDAT <size> [LAST]; closing connection"], transcript.Replies[1..]);
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task ChunksThatAddUpToOneOctetOverTheLimitGet552AtTheChunkThatCrossesItAndTheSessionCarriesOn()
    {
        await using var server = TestServer.Start(o => o.MaxMessageSize = 10);
        var script = Head + "BDAT 5\r\n12345BDAT 5\r\n67890BDAT 1 LAST\r\nX"
            + "BDAT 2 LAST\r\nYZ"                           // the transaction is over: refused, octets dropped
            + "MAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nBDAT 10 LAST\r\n0123456789QUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Assert.Equal(
            [
                "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 5 octets received", "250 2.0.0 10 octets received",
                "552 5.3.4 Message size exceeds fixed maximum message size", "503 5.5.1 Bad sequence of commands: need MAIL before BDAT",
                "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 Message accepted", "221 2.0.0 Bye",
            ],
            transcript.Replies[1..]);
        Assert.Equal("0123456789", Assert.Single(server.Messages).Text);
    }

    [Fact]
    public async Task AChunkDeclaredFarOverTheLimitIsReadAndDroppedWithoutBeingStored()
    {
        var spool = Directory.CreateTempSubdirectory("smtpd-bdat-");
        try
        {
            await using var server = TestServer.Start(o =>
            {
                o.MaxMessageSize = 1000;
                o.SpoolDirectory = spool.FullName;
                o.MessageMemoryThreshold = 4096;
            });
            var chunk = new byte[4 * 1024 * 1024];
            Array.Fill(chunk, (byte)'x');
            var script = Wire.Bytes(Head + $"BDAT {chunk.Length} LAST\r\n").Concat(chunk).Concat(Wire.Bytes("NOOP\r\nQUIT\r\n")).ToArray();

            var (_, transcript) = await Wire.RunAsync(server.EndPoint, script);

            Assert.Equal(["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "552 5.3.4 Message size exceeds fixed maximum message size", "250 2.0.0 OK", "221 2.0.0 Bye"], transcript.Replies[1..]);
            Assert.Empty(server.Messages);
            Assert.Empty(spool.EnumerateFiles());
        }
        finally
        {
            spool.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task ALastChunkThatNeverCompletesEndsInATimeoutAndNothingIsDelivered()
    {
        var time = new TestClock();
        // The minimum data rate is off: advancing the clock a data timeout at a time would otherwise also put the
        // stalled chunk below it, and which of the two 421s comes first would depend on how the octets were read.
        // The rate has its own tests (LimitTests).
        await using var server = TestServer.StartWithClock(time, o => o.MinimumDataRate = 0);
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        await client.SendAsync(Head + "BDAT 100 LAST\r\nonly a few octets");
        var replies = await client.ReadRepliesAsync(3);
        Assert.Equal(["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK"], replies[1..]);

        // The chunk's partial octets may still arrive in a read of their own, which sets a fresh data deadline: the
        // clock is advanced a data timeout at a time until the server gives up.
        var timedOut = client.ReadReplyAsync();
        await time.AdvanceUntilAsync(server.Server.Options.DataTimeout, timedOut, "the stalled chunk timed out");

        Assert.Equal("421 4.4.2 Timeout, closing connection", await timedOut);
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task AClientThatClosesInTheMiddleOfAChunkLeavesNoMessageAndNoSession()
    {
        await using var server = TestServer.Start();
        using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
        {
            await socket.ConnectAsync(server.EndPoint, TestContext.Current.CancellationToken);
            await Wire.ReadLineAsync(socket, TimeSpan.FromSeconds(10));
            await Wire.SendAsync(socket, Wire.Bytes(Head + "BDAT 1000000 LAST\r\nsome"), Delivery.Whole);
            socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            var transcript = await Wire.ReadToEndAsync(socket, TimeSpan.FromSeconds(10));
            Assert.Equal(3, transcript.Replies.Length);
        }

        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 0, "the session ended");
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task DataAfterAFinishedBdatMessageNeedsANewTransactionAndBdatAfterDataIsContent()
    {
        await using var server = TestServer.Start();
        var script = Head + "BDAT 2 LAST\r\nhiDATA\r\n"
            + "MAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nDATA\r\nBDAT 5 LAST\r\n.\r\nQUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Assert.Equal(
            [
                "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 Message accepted", "503 5.5.1 Bad sequence of commands: need MAIL before DATA",
                "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Message accepted", "221 2.0.0 Bye",
            ],
            transcript.Replies[1..]);
        Assert.Equal(["hi", "BDAT 5 LAST\r\n"], server.Messages.Select(m => m.Text));
    }
}
