using System.Diagnostics;

namespace Smtpd.Testing.Tests;

public sealed class WaitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AWaitStartedBeforeTheMessageCompletesAsSoonAsItIsAccepted()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        var wait = smtp.WaitForMessageAsync(m => m.IsTo("bob@example.com"), TimeSpan.FromSeconds(10), Ct);
        Assert.False(wait.IsCompleted);

        await Mail.SendAsync(smtp);
        var acknowledged = DateTimeOffset.UtcNow;
        var message = await wait;
        var lag = DateTimeOffset.UtcNow - message.ReceivedAt;

        // Signalled by the delivery itself: no polling interval between arrival and completion.
        Assert.True(lag < TimeSpan.FromMilliseconds(1000), $"The wait completed {lag.TotalMilliseconds} ms after the message arrived.");
        Assert.True(message.ReceivedAt <= acknowledged);
    }

    [Fact]
    public async Task AWaitCompletesBeforeTheClientHasEvenQuit()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        using var client = await Mail.ConnectAsync(smtp);
        var wait = smtp.WaitForMessageAsync(cancellationToken: Ct);

        await client.SendAsync(Mail.Create(subject: "still connected"), Ct);
        var message = await wait.WaitAsync(TimeSpan.FromSeconds(2), Ct);

        Assert.Equal("still connected", message.Subject);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task AMessageThatAlreadyArrivedSatisfiesTheWaitAtOnce()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await Mail.SendAsync(smtp, Mail.Create(subject: "early"));

        var wait = smtp.WaitForMessageAsync(m => m.Subject == "early", cancellationToken: Ct);

        Assert.True(wait.IsCompletedSuccessfully);
        Assert.Equal("early", (await wait).Subject);
    }

    [Fact]
    public async Task WaitForMessagesReturnsTheFirstMatchesInArrivalOrder()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await Mail.SendAsync(smtp, Mail.Create(to: "carol@example.com", subject: "0"));
        var wait = smtp.WaitForMessagesAsync(3, m => m.IsTo("bob@example.com"), TimeSpan.FromSeconds(10), Ct);

        await Mail.SendAsync(smtp, Mail.Create(to: "bob@example.com", subject: "1"));
        await Mail.SendAsync(smtp, Mail.Create(to: "bob@example.com", subject: "2"));
        Assert.False(wait.IsCompleted);
        await Mail.SendAsync(smtp, Mail.Create(to: "bob@example.com", subject: "3"));
        await wait.WaitAsync(TimeSpan.FromSeconds(2), Ct);
        await Mail.SendAsync(smtp, Mail.Create(to: "bob@example.com", subject: "4"));

        Assert.Equal(["1", "2", "3"], (await wait).Select(m => m.Subject));
    }

    [Fact]
    public async Task ManyConcurrentSendersAreAllAwaited()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        var wait = smtp.WaitForMessagesAsync(20, timeout: TimeSpan.FromSeconds(20), cancellationToken: Ct);

        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Mail.SendAsync(smtp, Mail.Create(subject: $"m{i}"))));

        Assert.Equal(20, (await wait).Select(m => m.Subject).Distinct().Count());
    }

    [Fact]
    public async Task ATimeoutListsWhatDidArriveAndThePredicate()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await Mail.SendAsync(smtp, Mail.Create(from: "alice@example.com", to: "bob@example.com", subject: "Welcome"));
        await Mail.SendAsync(smtp, Mail.Create(from: "alice@example.com", to: "carol@example.com, dan@example.com", subject: "Invoice 7"));

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<SmtpWaitTimeoutException>(() => smtp.WaitForMessageAsync(m => m.IsTo("eve@example.com"), TimeSpan.FromMilliseconds(150), Ct));
        clock.Stop();

        Assert.InRange(clock.ElapsedMilliseconds, 140, 5000);
        Assert.Equal(
            """
            Timed out after 0.15 s waiting for 1 message matching m => m.IsTo("eve@example.com") (0 matched), but 2 messages arrived:
              1. alice@example.com -> bob@example.com: "Welcome"
              2. alice@example.com -> carol@example.com, dan@example.com: "Invoice 7"
            """.ReplaceLineEndings(),
            error.Message);
        Assert.Equal(2, error.Received.Count);
        Assert.Equal(0, error.Matched);
        Assert.IsType<TimeoutException>(error, exactMatch: false);
    }

    [Fact]
    public async Task ATimeoutWithNothingReceivedSaysSoAndCountsPartialMatches()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.DefaultWaitTimeout = TimeSpan.FromMilliseconds(100), Ct);
        var none = await Assert.ThrowsAsync<SmtpWaitTimeoutException>(() => smtp.WaitForMessageAsync(cancellationToken: Ct));
        Assert.Equal("Timed out after 0.1 s waiting for 1 message, but no message arrived.", none.Message);

        await Mail.SendAsync(smtp);
        var partial = await Assert.ThrowsAsync<SmtpWaitTimeoutException>(() => smtp.WaitForMessagesAsync(2, m => m.Subject == "Hello", cancellationToken: Ct));
        Assert.StartsWith("Timed out after 0.1 s waiting for 2 messages matching m => m.Subject == \"Hello\" (1 matched), but 1 message arrived:", partial.Message, StringComparison.Ordinal);
        Assert.Equal(1, partial.Matched);
    }

    [Fact]
    public async Task ATimeoutAlsoListsTheFaultsThatWereInjected()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Rcpt, 452, "4.2.2", "Mailbox full");
        await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(smtp));

        var error = await Assert.ThrowsAsync<SmtpWaitTimeoutException>(() => smtp.WaitForMessageAsync(timeout: TimeSpan.FromMilliseconds(50), cancellationToken: Ct));

        Assert.Contains("no message arrived.", error.Message, StringComparison.Ordinal);
        Assert.Contains("Faults injected meanwhile: 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("RCPT: rejected with 452 4.2.2 Mailbox full", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AThrowingPredicateFailsTheWaitButNotTheDelivery()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        var wait = smtp.WaitForMessageAsync(m => m.Subject.Length > 0 ? throw new FormatException("bad predicate") : false, cancellationToken: Ct);

        await Mail.SendAsync(smtp);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => wait);
        Assert.IsType<FormatException>(error.InnerException);
        Assert.Single(smtp.Messages);
    }

    [Fact]
    public async Task APredicateMayReadTheServerItWaitsOn()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        var wait = smtp.WaitForMessageAsync(m => smtp.Messages.Count == 2 && smtp.Messages[^1] == m, TimeSpan.FromSeconds(10), Ct);

        await Mail.SendAsync(smtp, Mail.Create(subject: "first"));
        await Mail.SendAsync(smtp, Mail.Create(subject: "second"));

        Assert.Equal("second", (await wait).Subject);
    }

    [Fact]
    public async Task CancellingTheTokenEndsTheWait()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var wait = smtp.WaitForMessageAsync(cancellationToken: cancel.Token);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
    }

    [Fact]
    public async Task DisposingTheServerEndsPendingWaits()
    {
        var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        var wait = smtp.WaitForMessageAsync(timeout: TimeSpan.FromSeconds(30), cancellationToken: Ct);

        await smtp.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => wait);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => smtp.WaitForMessageAsync(cancellationToken: Ct));
    }

    [Fact]
    public async Task BadArgumentsAreRefused()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => smtp.WaitForMessagesAsync(0, cancellationToken: Ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => smtp.WaitForMessageAsync(timeout: TimeSpan.Zero, cancellationToken: Ct));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpTestServerOptions().DefaultWaitTimeout = TimeSpan.FromSeconds(-1));
    }
}
