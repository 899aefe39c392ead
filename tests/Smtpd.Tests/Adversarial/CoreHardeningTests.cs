using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.Adversarial;

/// <summary>
/// The core changes the hardening work called for (docs/hardening.md): a client that never reads is cut off, replies
/// never echo non-ASCII, HTTP request lines end the session, an unreadable BDAT closes in every state, and spooled
/// content is private. (The slowloris and junk-command limits are covered in Integration/LimitTests.cs.)
/// </summary>
[Collection(nameof(ResourceSerialGroup))]
public sealed class CoreHardeningTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // ---- A client that never reads its replies is cut off: its session ends, and with it its slot.

    [Fact]
    public async Task AClientThatNeverReadsIsDisconnectedAfterTheCommandTimeoutAndItsSessionEnds()
    {
        var time = new TestClock();
        await using var test = TestServer.StartWithClock(time, o =>
        {
            // Not the junk limit: this test is about the timeout on a flush that never completes.
            o.MaxJunkCommands = int.MaxValue;
        });
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 16 * 1024 };
        await socket.ConnectAsync(test.EndPoint, Ct);
        var script = Encoding.ASCII.GetBytes("EHLO client.test\r\n" + string.Concat(Enumerable.Repeat("HELP\r\nNOOP\r\nRSET\r\n", 33_334)));

        // The send itself stalls once the server stops reading, until the server cuts the client off; the clock is
        // advanced a command timeout at a time (the stalled flush's deadline, then the 5 s the 421 is given).
        var sending = Wire.SendAsync(socket, script, Delivery.Whole);
        await time.AdvanceUntilAsync(test.Server.Options.CommandTimeout, () => test.Server.SessionCount == 0, "the session of a client that never reads ended");
        await sending;
    }

    // ---- 4. The EHLO/HELO reply echoes the client's name, UTF-8 included: replies must stay printable ASCII.

    [Theory]
    [InlineData("EHLO j\u00c3\u00b6rg.example")]
    [InlineData("HELO \u00c3\u00bcn\u00c3\u00afcode")]
    public async Task TheHeloReplyNeverEchoesOctetsThatAreNotPrintableAscii(string command)
    {
        await using var server = TestServer.Start();
        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(command + "\r\nQUIT\r\n"));
        Assert.StartsWith("250", transcript.Replies[0], StringComparison.Ordinal);
        Wire.AssertWellFormed(transcript);
    }

    // ---- 5. Cross-protocol requests (HTTP to the SMTP port, e.g. through SSRF): Postfix's smtpd_forbidden_commands
    //         (CONNECT GET POST) end the session at the first such line, so a body can never be run as SMTP.

    [Theory]
    [InlineData("POST /form HTTP/1.1")]
    [InlineData("GET / HTTP/1.1")]
    [InlineData("CONNECT mail.example:25 HTTP/1.1")]
    public async Task AnHttpRequestLineEndsTheSessionAtOnceSoItsBodyIsNeverRunAsSmtp(string requestLine)
    {
        var senders = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = Wire.StartRecordingSenders(senders);
        var request = requestLine + "\r\nHost: mail.example\r\nContent-Type: text/plain\r\nContent-Length: 120\r\n\r\n"
            + "EHLO evil.example\r\nMAIL FROM:<ssrf@evil.example>\r\nRCPT TO:<victim@b.example>\r\nDATA\r\nspam\r\n.\r\nQUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(request));

        var reply = Assert.Single(transcript.Replies);
        Assert.Matches("^(421|221) ", reply);
        Assert.Empty(senders);
        Assert.Empty(server.Messages);
    }

    // ---- 6. A BDAT whose size cannot be read closes the connection in every state, not only in a transaction:
    //         its chunk's end is unknown whatever the state, so what follows must not be read as commands.

    [Fact]
    public async Task AnUnreadableBdatOutsideATransactionAlsoClosesTheConnection()
    {
        await using var server = TestServer.Start();
        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes("EHLO client.test\r\nBDAT ten\r\nNOOP\r\nQUIT\r\n"));
        var reply = Assert.Single(transcript.Replies[1..]);
        Assert.Matches("^50[13] ", reply);
    }

    // ---- 7. Spooled message content is readable by its owner only (they were 0666 & ~umask, world-readable under the
    //         usual 022, in a shared temporary directory).

    [Fact]
    public async Task SpooledContentIsReadableByTheServerUserOnly()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var spool = Directory.CreateTempSubdirectory("smtpd-mode-");
        try
        {
            UnixFileMode? mode = null;
            await using var server = TestServer.Start(o =>
            {
                o.MessageMemoryThreshold = 4096;
                o.SpoolDirectory = spool.FullName;
                o.Deliver = (_, _) =>
                {
                    mode = OperatingSystem.IsWindows() ? null : File.GetUnixFileMode(Assert.Single(Directory.GetFiles(spool.FullName)));
                    return ValueTask.FromResult(SmtpVerdict.Accept);
                };
            });
            await using var client = await server.ConnectAndEhloAsync();
            Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
            Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
            Assert.StartsWith("354", await client.CommandAsync("DATA"));
            Assert.StartsWith("250", await client.CommandAsync(string.Concat(Enumerable.Repeat(new string('s', 98) + "\r\n", 100)) + "."));

            Assert.NotNull(mode);
            Assert.Equal(UnixFileMode.None, mode.Value & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite));
        }
        finally
        {
            spool.Delete(recursive: true);
        }
    }
}
