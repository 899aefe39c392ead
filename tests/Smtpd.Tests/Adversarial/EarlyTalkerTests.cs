using System.Net.Sockets;

namespace Smtpd.Tests.Adversarial;

/// <summary>
/// Clients that do not wait their turn, with the documented behaviour (docs/protocol.md): bytes sent before the
/// greeting are commands, read in order after the greeting; bytes sent after an accepted DATA but before its 354
/// are content; bytes after a refused DATA are commands again. Every case stays inside the client's own session.
/// </summary>
public sealed class EarlyTalkerTests
{
    [Fact]
    public async Task AClientThatTalksBeforeTheGreetingGetsTheGreetingFirstAndThenItsRepliesInOrder()
    {
        var greeted = new TaskCompletionSource();
        await using var server = TestServer.Start(o => o.ValidateHost = async (_, ct) =>
        {
            // Hold the greeting until the client's early bytes have surely arrived.
            await greeted.Task.WaitAsync(ct);
            return SmtpVerdict.Accept;
        });
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.EndPoint, TestContext.Current.CancellationToken);
        await Wire.SendAsync(socket, Wire.Bytes("EHLO early.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nDATA\r\nearly\r\n.\r\nQUIT\r\n"), Delivery.Whole);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.False(socket.Poll(0, SelectMode.SelectRead), "Nothing may be answered before the greeting.");
        greeted.SetResult();

        var transcript = await Wire.ReadToEndAsync(socket, TimeSpan.FromSeconds(10));

        Wire.AssertWellFormed(transcript);
        var replies = transcript.Replies;
        Assert.StartsWith("220 test.local ", replies[0], StringComparison.Ordinal);
        Assert.StartsWith("250-test.local Hello early.example", replies[1], StringComparison.Ordinal);
        Assert.Equal(["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Message accepted", "221 2.0.0 Bye"], replies[2..]);
        Assert.Equal("early\r\n", Assert.Single(server.Messages).Text);
    }

    [Fact]
    public async Task AnEarlyTalkerWhoseHostIsRefusedGets503ForEverythingButQuit()
    {
        var greeted = new TaskCompletionSource();
        await using var server = TestServer.Start(o => o.ValidateHost = async (_, ct) =>
        {
            await greeted.Task.WaitAsync(ct);
            return SmtpVerdict.Reject("listed");
        });
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.EndPoint, TestContext.Current.CancellationToken);
        await Wire.SendAsync(socket, Wire.Bytes("EHLO early.example\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n"), Delivery.Whole);
        await Task.Delay(100, TestContext.Current.CancellationToken);
        greeted.SetResult();

        var transcript = await Wire.ReadToEndAsync(socket, TimeSpan.FromSeconds(10));
        Assert.Equal(
            ["550 Access denied: listed", "503 Bad sequence of commands: access denied, only QUIT is accepted", "503 Bad sequence of commands: access denied, only QUIT is accepted", "221 Bye"],
            transcript.Replies);
        Assert.Empty(server.Messages);
    }

    [Theory]
    [InlineData(Delivery.Whole)]
    [InlineData(Delivery.ByteByByte)]
    public async Task ADataBodySentBeforeThe354IsContentInOrder(Delivery delivery)
    {
        await using var server = TestServer.Start();
        var script = "EHLO client.test\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nDATA\r\nSubject: eager\r\n\r\nNOOP\r\nQUIT\r\n..dot\r\n.\r\nNOOP\r\nQUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script), delivery);

        Wire.AssertWellFormed(transcript);
        Assert.Equal(
            ["250 2.1.0 Sender OK", "250 2.1.5 Recipient OK", "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Message accepted", "250 2.0.0 OK", "221 2.0.0 Bye"],
            transcript.Replies[1..]);
        Assert.Equal("Subject: eager\r\n\r\nNOOP\r\nQUIT\r\n.dot\r\n", Assert.Single(server.Messages).Text);
    }

    [Fact]
    public async Task ABodySentAfterARefusedDataIsReadAsCommandsAndEveryLineIsAnswered()
    {
        // RFC 2920 3.1 makes DATA the last command of a group: a client that sends the body anyway, and whose DATA is
        // refused, has its body read as commands. They are its own commands in its own session: the lines that are
        // not commands are errors, and the error limit ends a long body.
        await using var server = TestServer.Start(o =>
        {
            o.MaxErrors = 5;
            o.ValidateRecipient = (_, _, _) => ValueTask.FromResult(SmtpVerdict.Reject());
        });
        var script = "EHLO client.test\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<nobody@b.example>\r\nDATA\r\nSubject: x\r\n\r\nMAIL FROM:<b@b.example>\r\nline\r\n.\r\nmore\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Wire.AssertWellFormed(transcript);
        Assert.Equal(
            [
                "250 2.1.0 Sender OK",
                "550 5.7.1 Recipient rejected",
                "503 5.5.1 Bad sequence of commands: need RCPT before DATA",
                "500 5.5.2 Command unrecognized",
                "500 5.5.2 Command unrecognized",
                "503 5.5.1 Bad sequence of commands: nested MAIL command",
                "500 5.5.2 Command unrecognized",
                "421 4.7.0 Too many errors, closing connection",
            ],
            transcript.Replies[1..]);
        Assert.Empty(server.Messages);
    }
}
