using MailKit.Security;

namespace Smtpd.Testing.Tests;

/// <summary>Every fault script, seen from MailKit as an application sees it: the exception type and status code.</summary>
public sealed class FaultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RejectingTheNextTwoRcptGives452ToTheClientTwiceThenSucceeds()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        var fault = smtp.Faults.Reject(SmtpFaultPoint.Rcpt, 452, "4.2.2", "Mailbox full", times: 2);

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var error = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(smtp));
            Assert.Equal(SmtpErrorCode.RecipientNotAccepted, error.ErrorCode);
            Assert.Equal(SmtpStatusCode.InsufficientStorage, error.StatusCode);
            Assert.Equal("bob@example.com", error.Mailbox?.Address);
            Assert.Equal("4.2.2 Mailbox full", error.Message);
        }

        await Mail.SendAsync(smtp);
        Assert.Single(smtp.Messages);
        Assert.Equal(2, fault.Fired);
        Assert.True(fault.IsExhausted);
    }

    [Fact]
    public async Task AnsweringDataWith451OnceFailsOneSendOnly()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Data, 451);

        // MailKit reports any answer to DATA other than 354 as an unexpected status code.
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(smtp));
        Assert.Equal(SmtpErrorCode.UnexpectedStatusCode, error.ErrorCode);
        Assert.Equal(SmtpStatusCode.ErrorInProcessing, error.StatusCode);
        Assert.Empty(smtp.Messages);

        await Mail.SendAsync(smtp);
        Assert.Single(smtp.Messages);
    }

    [Fact]
    public async Task RejectingTheMessageAfterItsContentGivesTheClientThatReply()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Message, 554, "5.7.1", "Message refused as spam");

        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(smtp));
        Assert.Equal(SmtpErrorCode.MessageNotAccepted, error.ErrorCode);
        Assert.Equal(SmtpStatusCode.TransactionFailed, error.StatusCode);
        Assert.Equal("5.7.1 Message refused as spam", error.Message);
        Assert.Empty(smtp.Messages);
    }

    [Fact]
    public async Task DelayingTheReplyToTheMessageHoldsItBackUntilTheDelayHasPassedAndNotBefore()
    {
        var clock = new FaultClock();
        var start = clock.GetUtcNow();
        await using var smtp = await SmtpTestServer.StartAsync(o => o.FaultTimeProvider = clock, Ct);
        var delay = TimeSpan.FromSeconds(30);
        smtp.Faults.Delay(SmtpFaultPoint.Message, delay);

        var send = Mail.SendAsync(smtp);
        await clock.WaitForTimerAsync(delay);
        clock.Advance(delay - TimeSpan.FromTicks(1));

        // The server cannot answer, nor record the message, while the delay lasts on the fault clock.
        Assert.False(send.IsCompleted);
        Assert.Empty(smtp.Messages);

        clock.Advance(TimeSpan.FromTicks(1));
        await send;
        Assert.Single(smtp.Messages);
        var injected = Assert.Single(smtp.Faults.Injected);
        Assert.Equal(SmtpFaultKind.Delay, injected.Kind);
        Assert.Equal(start, injected.At);
    }

    [Fact]
    public async Task AClientThatLeavesDuringADelayCancelsItAndNothingIsRecorded()
    {
        var clock = new FaultClock();
        await using var smtp = await SmtpTestServer.StartAsync(o => o.FaultTimeProvider = clock, Ct);
        var delay = TimeSpan.FromMinutes(5);
        smtp.Faults.Delay(SmtpFaultPoint.Message, delay);

        using (var client = await Mail.ConnectAsync(smtp))
        {
            using var leave = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var send = client.SendAsync(Mail.Create(), leave.Token);
            await clock.WaitForTimerAsync(delay);

            // The content is in and its reply held back: the client gives up and closes its connection.
            await leave.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send);
        }

        // The server notices the departure (within about a second of real time) and cancels the callbacks' token,
        // which ends the delay and with it the session. Nothing advances the fault clock, so a delay that ignored the
        // token would hold the session open for good, and this wait would fail; a session that ended any other way
        // than through the cancelled delay would have recorded the message, and the last check would fail.
        var ended = System.Diagnostics.Stopwatch.StartNew();
        while (smtp.Server.SessionCount > 0)
        {
            Assert.True(ended.Elapsed < TimeSpan.FromSeconds(15), "The session never ended: the delay was not cancelled.");
            await Task.Delay(20, Ct);
        }

        Assert.Equal(SmtpFaultKind.Delay, Assert.Single(smtp.Faults.Injected).Kind);
        Assert.Empty(smtp.Messages);
    }

    [Fact]
    public async Task DelayingTheDataCommandHoldsBackThe354()
    {
        var clock = new FaultClock();
        await using var smtp = await SmtpTestServer.StartAsync(o => o.FaultTimeProvider = clock, Ct);
        var delay = TimeSpan.FromSeconds(20);
        smtp.Faults.Delay(SmtpFaultPoint.Data, delay);

        var send = Mail.SendAsync(smtp);
        await clock.WaitForTimerAsync(delay);
        Assert.False(send.IsCompleted);
        Assert.Equal(SmtpFaultPoint.Data, Assert.Single(smtp.Faults.Injected).Point);

        clock.Advance(delay);
        await send;
        Assert.Single(smtp.Messages);
    }

    [Fact]
    public async Task DroppingTheConnectionAfterMailGivesTheClientAProtocolError()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Disconnect(SmtpFaultPoint.Mail);

        using var client = await Mail.ConnectAsync(smtp);
        var error = await Assert.ThrowsAsync<SmtpProtocolException>(() => client.SendAsync(Mail.Create(), Ct));
        Assert.Contains("disconnected", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.False(client.IsConnected);
        Assert.Empty(smtp.Messages);

        await Mail.SendAsync(smtp);
        Assert.Single(smtp.Messages);
    }

    [Fact]
    public async Task DroppingTheConnectionAtTheEndOfTheMessageLosesIt()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Disconnect(SmtpFaultPoint.Message);

        await Assert.ThrowsAsync<SmtpProtocolException>(() => Mail.SendAsync(smtp));
        Assert.Empty(smtp.Messages);
    }

    [Fact]
    public async Task RejectingAuthMakesMailKitThrowAnAuthenticationException()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.RequireAuthentication("app", "secret"), Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Auth, 535, times: SmtpFault.Unlimited);

        var error = await Assert.ThrowsAsync<AuthenticationException>(() => Mail.ConnectAsync(smtp));
        Assert.Contains("Authentication credentials invalid", error.Message, StringComparison.Ordinal);
        Assert.Equal(SmtpFaultPoint.Auth, smtp.Faults.Injected[0].Point);
    }

    [Fact]
    public async Task ATemporaryAuthFailureIsAnAuthenticationExceptionCarryingTheCode()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.RequireAuthentication("app", "secret"), Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Auth, 454, "4.7.0", "Temporary authentication failure", times: SmtpFault.Unlimited);

        var error = await Assert.ThrowsAsync<AuthenticationException>(() => Mail.ConnectAsync(smtp));
        var command = Assert.IsType<SmtpCommandException>(error.InnerException);
        Assert.Equal(454, (int)command.StatusCode);
    }

    [Fact]
    public async Task RejectingTheConnectionReplacesTheGreeting()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Connect, 554, text: "No SMTP service here");

        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.ConnectAsync(smtp));
        Assert.Equal(SmtpStatusCode.TransactionFailed, error.StatusCode);
        Assert.Equal("No SMTP service here", error.Message);
    }

    [Fact]
    public async Task DroppingTheConnectionBeforeTheGreetingFailsTheConnect()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Disconnect(SmtpFaultPoint.Connect);

        await Assert.ThrowsAsync<SmtpProtocolException>(() => Mail.ConnectAsync(smtp));
        await Mail.SendAsync(smtp);
    }

    [Fact]
    public async Task RejectingStartTlsMakesAStartTlsClientFail()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseStartTls(), Ct);
        smtp.Faults.Reject(SmtpFaultPoint.StartTls, 454, "4.7.0", "TLS not available due to temporary reason");

        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.ConnectAsync(smtp));
        Assert.Equal(454, (int)error.StatusCode);
    }

    [Fact]
    public async Task SkipLetsTheFirstHitsThroughAndRejectsALaterOne()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Rcpt, 550, "5.1.1", "No such user", skip: 2);

        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(smtp, Mail.Create(to: "a@example.com, b@example.com, c@example.com, d@example.com")));

        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, error.ErrorCode);
        Assert.Equal("c@example.com", error.Mailbox?.Address);
        Assert.Equal(SmtpStatusCode.MailboxUnavailable, error.StatusCode);
    }

    [Fact]
    public async Task ADueDelayAndADueRejectionBothAct()
    {
        var clock = new FaultClock();
        await using var smtp = await SmtpTestServer.StartAsync(o => o.FaultTimeProvider = clock, Ct);
        var delay = TimeSpan.FromSeconds(15);
        smtp.Faults.Delay(SmtpFaultPoint.Mail, delay);
        smtp.Faults.Reject(SmtpFaultPoint.Mail, 421);

        var send = Mail.SendAsync(smtp);
        await clock.WaitForTimerAsync(delay);

        // The rejection waits for the delay too.
        Assert.False(send.IsCompleted);
        clock.Advance(delay);
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => send);

        Assert.Equal(SmtpErrorCode.SenderNotAccepted, error.ErrorCode);
        Assert.Equal(SmtpStatusCode.ServiceNotAvailable, error.StatusCode);
        Assert.Equal([SmtpFaultKind.Delay, SmtpFaultKind.Reject], smtp.Faults.Injected.Select(f => f.Kind));
    }

    [Fact]
    public void TheFaultClockIsTheSystemClockUnlessOneIsGiven()
    {
        Assert.Same(TimeProvider.System, new SmtpTestServerOptions().FaultTimeProvider);
        Assert.Same(TimeProvider.System, new SmtpFaults().TimeProvider);

        var clock = new FaultClock();
        Assert.Same(clock, new SmtpTestServerOptions { FaultTimeProvider = clock }.FaultTimeProvider);
        Assert.Same(clock, new SmtpFaults(clock).TimeProvider);
        Assert.Throws<ArgumentNullException>(() => new SmtpTestServerOptions { FaultTimeProvider = null! });
        Assert.Throws<ArgumentNullException>(() => new SmtpFaults(null!));
    }

    [Fact]
    public async Task FaultsAreRecordedAndClearRemovesThem()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Mail, 451, times: SmtpFault.Unlimited);
        await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(smtp));

        var injected = Assert.Single(smtp.Faults.Injected);
        Assert.Equal(SmtpFaultPoint.Mail, injected.Point);
        Assert.Equal(451, injected.Reply!.Code);
        Assert.False(injected.ByChaos);
        Assert.Equal("MAIL: reject with 451 4.3.0 Requested action aborted: local error in processing, every time (1 done)", Assert.Single(smtp.Faults.Scripted).ToString());

        smtp.Faults.Clear();
        Assert.Empty(smtp.Faults.Scripted);
        Assert.Empty(smtp.Faults.Injected);
        await Mail.SendAsync(smtp);
        Assert.Single(smtp.Messages);
    }

    [Fact]
    public async Task SystemNetMailSeesARejectedRecipientAsAFailedRecipient()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Rcpt, 452, "4.2.2", "Mailbox full");
        using var client = new System.Net.Mail.SmtpClient(smtp.Host, smtp.Port);

        var error = await Assert.ThrowsAsync<System.Net.Mail.SmtpFailedRecipientException>(() => client.SendMailAsync("alice@example.com", "bob@example.com", "s", "b", Ct));

        Assert.Equal(System.Net.Mail.SmtpStatusCode.InsufficientStorage, error.StatusCode);
        Assert.Equal("<bob@example.com>", error.FailedRecipient);
    }

    [Fact]
    public async Task ScriptsWithImpossibleValuesAreRefused()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        var faults = smtp.Faults;
        Assert.Throws<ArgumentOutOfRangeException>(() => faults.Reject(SmtpFaultPoint.Rcpt, 250));
        Assert.Throws<ArgumentException>(() => faults.Reject(SmtpFaultPoint.Rcpt, new SmtpReply(354, null, "go on")));
        Assert.Throws<ArgumentException>(() => faults.Reject(SmtpFaultPoint.Rcpt, 452, "5.2.2"));
        Assert.Throws<ArgumentOutOfRangeException>(() => faults.Reject(SmtpFaultPoint.Rcpt, 452, times: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => faults.Disconnect(SmtpFaultPoint.Rcpt, skip: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => faults.Delay(SmtpFaultPoint.Rcpt, TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => faults.Disconnect((SmtpFaultPoint)99));
        Assert.Empty(faults.Scripted);
    }
}
