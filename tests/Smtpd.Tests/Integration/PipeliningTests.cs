using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.Integration;

/// <summary>RFC 2920 PIPELINING: ordered processing, grouped replies, and no unbounded buffering.</summary>
public sealed class PipeliningTests
{
    [Fact]
    public async Task AWholeTransactionInOnePacketIsProcessedInOrder()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        await client.SendAsync("MAIL FROM:<a@b.example>\r\nRCPT TO:<r1@b.example>\r\nRCPT TO:<bad>\r\nRCPT TO:<r2@b.example>\r\nDATA\r\n");
        Assert.Equal(
            ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "501 5.1.3 Bad recipient address syntax", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>"],
            await client.ReadRepliesAsync(5));
        await client.SendAsync("Subject: pipelined\r\n\r\nbody\r\n.\r\nMAIL FROM:<second@b.example>\r\nRCPT TO:<r3@b.example>\r\nDATA\r\n");
        Assert.Equal(["250 2.0.0 Message accepted", "250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>"], await client.ReadRepliesAsync(4));
        await client.SendAsync("second\r\n.\r\nQUIT\r\n");
        Assert.Equal(["250 2.0.0 Message accepted", "221 2.0.0 Bye"], await client.ReadRepliesAsync(2));

        var messages = server.Messages.ToArray();
        Assert.Equal(2, messages.Length);
        Assert.Equal(["r1@b.example", "r2@b.example"], messages[0].Envelope.Recipients.Select(r => r.Address));
        Assert.Equal("second\r\n", messages[1].Text);
    }

    [Fact]
    public async Task CommandsAfterTheEndOfDataInTheSamePacketAreCommands()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        await client.SendAsync("MAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nDATA\r\n");
        await client.ReadRepliesAsync(3);
        await client.SendAsync("body\r\n.\r\nNOOP\r\nRSET\r\n");
        Assert.Equal(["250 2.0.0 Message accepted", "250 2.0.0 OK", "250 2.0.0 Reset OK"], await client.ReadRepliesAsync(3));
    }

    [Fact]
    public async Task BdatChunksAndCommandsCanBePipelinedTogether()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        await client.SendAsync("MAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nBDAT 5\r\nhelloBDAT 8 LAST\r\n world\r\nQUIT\r\n");
        Assert.Equal(
            ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "250 2.0.0 5 octets received", "250 2.0.0 Message accepted", "221 2.0.0 Bye"],
            await client.ReadRepliesAsync(5));
        Assert.Equal("hello world\r\n", (await server.WaitForMessageAsync()).Text);
    }

    [Fact]
    public async Task AClientThatNeverReadsIsThrottledByBackpressureAndLosesNoReply()
    {
        await using var server = TestServer.Start(o => o.MaxJunkCommands = int.MaxValue);
        await using var client = await server.ConnectAndEhloAsync();
        // Small client buffers, and more input than the server's receive buffer can hold once it stops reading.
        client.Socket.ReceiveBufferSize = 64 * 1024;
        client.Socket.SendBufferSize = 64 * 1024;
        const int commands = 3_000_000;
        var payload = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("NOOP\r\n", commands)));

        // The replies (14 octets each, 42 MB) and the input (18 MB) far exceed the socket buffers: if the server
        // buffered replies without bound it would keep reading and the send would finish; instead it stops reading
        // while its replies cannot be written, and the send stalls.
        var sending = client.SendAsync(payload);
        var finished = await Task.WhenAny(sending, Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken));
        Assert.NotSame(sending, finished);

        var received = await CountReplyLinesAsync(client.Socket, commands, TimeSpan.FromSeconds(60));
        await sending;
        Assert.Equal(commands, received);
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    private static async Task<int> CountReplyLinesAsync(Socket socket, int expected, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[256 * 1024];
        var lines = 0;
        while (lines < expected)
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            Assert.NotEqual(0, read);
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
        }

        return lines;
    }
}
