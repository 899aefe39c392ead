namespace Smtpd.Tests.Integration;

/// <summary>The per-command hook and the Disconnect verdict, the core of fault injection.</summary>
public sealed class FilterCommandTests
{
    [Fact]
    public async Task TheFilterSeesEachCommandVerbInOrder()
    {
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var server = TestServer.Start(o => o.FilterCommand = (_, verb, _) =>
        {
            seen.Enqueue(verb);
            return ValueTask.FromResult(SmtpVerdict.Accept);
        });
        await using var client = await server.ConnectAndEhloAsync();
        await client.CommandAsync("MAIL FROM:<a@b.example>");
        await client.CommandAsync("RCPT TO:<r@b.example>");
        await client.CommandAsync("DATA");
        await client.CommandAsync("x\r\n.");
        await client.CommandAsync("BOGUS");
        await client.CommandAsync("QUIT");
        Assert.Equal(["EHLO", "MAIL", "RCPT", "DATA", "QUIT"], seen);
        Assert.Single(server.Messages);
    }

    [Fact]
    public async Task ARejectionIsSentInsteadOfRunningTheCommand()
    {
        var rejections = 2;
        await using var server = TestServer.Start(o => o.FilterCommand = (_, verb, _) => ValueTask.FromResult(
            verb == "RCPT" && Interlocked.Decrement(ref rejections) >= 0 ? SmtpVerdict.Reject(452, "4.2.2", "Mailbox full") : SmtpVerdict.Accept));
        await using var client = await server.ConnectAndEhloAsync();
        await client.CommandAsync("MAIL FROM:<a@b.example>");
        Assert.Equal("452 4.2.2 Mailbox full", await client.CommandAsync("RCPT TO:<r1@b.example>"));
        Assert.Equal("452 4.2.2 Mailbox full", await client.CommandAsync("RCPT TO:<r2@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r3@b.example>"));
    }

    [Fact]
    public async Task ARejectedBdatStillConsumesItsChunk()
    {
        await using var server = TestServer.Start(o => o.FilterCommand = (_, verb, _) => ValueTask.FromResult(verb == "BDAT" ? SmtpVerdict.Reject() : SmtpVerdict.Accept));
        await using var client = await server.ConnectAndEhloAsync();
        await client.CommandAsync("MAIL FROM:<a@b.example>");
        await client.CommandAsync("RCPT TO:<r@b.example>");
        await client.SendAsync("BDAT 6\r\nQUIT\r\nNOOP\r\n");
        Assert.Equal("550 5.7.1 Command rejected", await client.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await client.ReadReplyAsync());
    }

    [Fact]
    public async Task DisconnectDropsTheConnectionWithoutAReply()
    {
        await using var server = TestServer.Start(o => o.FilterCommand = (_, verb, _) => ValueTask.FromResult(verb == "RCPT" ? SmtpVerdict.Disconnect : SmtpVerdict.Accept));
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        await client.SendAsync("RCPT TO:<r@b.example>\r\n");
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task ADeliveryThatDisconnectsIsNeverAcknowledged()
    {
        await using var server = TestServer.Start(o => o.Deliver = (_, _) => ValueTask.FromResult(SmtpVerdict.Disconnect));
        await using var client = await server.ConnectAndEhloAsync();
        await client.CommandAsync("MAIL FROM:<a@b.example>");
        await client.CommandAsync("RCPT TO:<r@b.example>");
        await client.CommandAsync("DATA");
        await client.SendAsync("body\r\n.\r\n");
        await Assert.ThrowsAsync<IOException>(() => client.ReadReplyAsync());
    }

    [Fact]
    public async Task AFilterThatThrowsGets451AndTheCommandDoesNotRun()
    {
        await using var server = TestServer.Start(o => o.FilterCommand = (_, verb, _) => verb == "MAIL" ? throw new InvalidOperationException("boom") : ValueTask.FromResult(SmtpVerdict.Accept));
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("451 4.3.0 Requested action aborted: local error in processing", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("503", await client.CommandAsync("RCPT TO:<r@b.example>"));
    }

    [Fact]
    public async Task A421FromACallbackIsFollowedByAClose()
    {
        await using var server = TestServer.Start(o => o.ValidateRecipient = (_, _, _) => ValueTask.FromResult(SmtpVerdict.Reject(421, "4.3.2", "Going down")));
        await using var client = await server.ConnectAndEhloAsync();
        await client.CommandAsync("MAIL FROM:<a@b.example>");
        Assert.Equal("421 4.3.2 Going down", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task A421GreetingFromHostValidationIsFollowedByAClose()
    {
        await using var server = TestServer.Start(o => o.ValidateHost = (_, _) => ValueTask.FromResult(SmtpVerdict.Reject(421, null, "Busy")));
        await using var client = await server.ConnectAsync();
        Assert.Equal("421 Busy", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
    }
}
