using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Smtpd.Testing.Tests;

public sealed class StartAndStopTests
{
    [Fact]
    public async Task StartListensOnLoopbackOnAFreePortWithinMilliseconds()
    {
        // Warm up the JIT once, so the measurement is of the start itself.
        await (await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken)).DisposeAsync();

        var clock = Stopwatch.StartNew();
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        clock.Stop();

        Assert.Equal("127.0.0.1", smtp.Host);
        Assert.NotEqual(0, smtp.Port);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, smtp.Port), smtp.EndPoint);
        Assert.True(clock.ElapsedMilliseconds < 1000, $"Starting took {clock.ElapsedMilliseconds} ms.");
        Assert.True(smtp.Server.IsRunning);
    }

    [Fact]
    public async Task DisposeClosesThePort()
    {
        var smtp = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var port = smtp.Port;
        await smtp.DisposeAsync();

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(IPAddress.Loopback, port, TestContext.Current.CancellationToken).AsTask());
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task ManyServersRunInParallelAndEachKeepsItsOwnMessages()
    {
        const int Count = 12;
        var servers = await Task.WhenAll(Enumerable.Range(0, Count).Select(_ => SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken)));
        try
        {
            Assert.Equal(Count, servers.Select(s => s.Port).Distinct().Count());
            await Task.WhenAll(servers.Select((smtp, i) => Mail.SendAsync(smtp, Mail.Create(to: $"user{i}@example.com", subject: $"For server {i}"))));

            for (var i = 0; i < Count; i++)
            {
                var message = Assert.Single(servers[i].Messages);
                Assert.Equal($"For server {i}", message.Subject);
                Assert.Equal([$"user{i}@example.com"], message.To);
            }
        }
        finally
        {
            await Task.WhenAll(servers.Select(s => s.DisposeAsync().AsTask()));
        }
    }

    [Fact]
    public async Task AConfiguredPortAndAddressAreUsed()
    {
        await using var first = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var port = first.Port;
        await first.DisposeAsync();

        await using var smtp = await SmtpTestServer.StartAsync(o => { o.Port = port; o.Address = IPAddress.Loopback; }, TestContext.Current.CancellationToken);
        Assert.Equal(port, smtp.Port);
    }

    [Fact]
    public async Task AServerCanBeTunedThroughTheCoreOptions()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o =>
        {
            o.Server.ServerName = "mx.tuned.test";
            o.Server.ValidateRecipient = (_, rcpt, _) => ValueTask.FromResult(rcpt.Domain == "example.com" ? SmtpVerdict.Accept : SmtpVerdict.Reject());
        }, TestContext.Current.CancellationToken);

        using var client = await Mail.ConnectAsync(smtp);
        var rejected = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(Mail.Create(to: "eve@elsewhere.test"), TestContext.Current.CancellationToken));
        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, rejected.ErrorCode);
        Assert.Equal(550, (int)rejected.StatusCode);
        Assert.Empty(smtp.Messages);
        Assert.Equal("mx.tuned.test", smtp.Server.Options.ServerName);
    }

    [Fact]
    public async Task DeliverMimeIsRefusedBecauseTheServerRecordsThroughDeliver()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => SmtpTestServer.StartAsync(o => o.Server.DeliverMime = (_, _, _) => ValueTask.FromResult(SmtpVerdict.Accept), TestContext.Current.CancellationToken));
        Assert.Contains("Mime", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnOwnDeliverCallbackRunsAndItsRejectionIsNotRecorded()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.Server.Deliver = (message, _) => ValueTask.FromResult(
            message.Envelope.Recipients.Any(r => r.LocalPart == "full") ? SmtpVerdict.Reject(552, "5.2.2", "Mailbox full") : SmtpVerdict.AcceptWith(new SmtpReply(250, "2.0.0", "Queued as 42"))), TestContext.Current.CancellationToken);

        Assert.Contains("Queued as 42", await Mail.SendAsync(smtp), StringComparison.Ordinal);
        var full = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(smtp, Mail.Create(to: "full@example.com")));
        Assert.Equal(552, (int)full.StatusCode);
        Assert.Equal(["bob@example.com"], Assert.Single(smtp.Messages).To);
    }
}
