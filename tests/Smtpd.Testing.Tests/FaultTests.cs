using System.Diagnostics;
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
    public async Task DelayingTheReplyToTheMessageSlowsTheSendDown()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Delay(SmtpFaultPoint.Message, TimeSpan.FromMilliseconds(400));

        var clock = Stopwatch.StartNew();
        await Mail.SendAsync(smtp);
        clock.Stop();

        Assert.True(clock.ElapsedMilliseconds >= 390, $"The send took {clock.ElapsedMilliseconds} ms.");
        Assert.Single(smtp.Messages);
        Assert.Equal(SmtpFaultKind.Delay, Assert.Single(smtp.Faults.Injected).Kind);
    }

    [Fact]
    public async Task ADelayLongerThanTheClientTimeoutMakesTheClientGiveUpAndNothingIsRecorded()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Delay(SmtpFaultPoint.Message, TimeSpan.FromSeconds(5));

        var clock = Stopwatch.StartNew();
        await Assert.ThrowsAsync<TimeoutException>(() => Mail.SendAsync(smtp, timeoutMilliseconds: 300));
        clock.Stop();

        Assert.True(clock.ElapsedMilliseconds < 4000, $"The client gave up after {clock.ElapsedMilliseconds} ms.");

        // The client's departure cancels the delay (the callbacks' token), so the session ends without recording; a
        // session that outlived the delay would record the message before it ended, and this would see it.
        var ended = Stopwatch.StartNew();
        while (smtp.Server.SessionCount > 0)
        {
            Assert.True(ended.Elapsed < TimeSpan.FromSeconds(15), "The session never ended.");
            await Task.Delay(20, Ct);
        }

        Assert.Empty(smtp.Messages);
    }

    [Fact]
    public async Task DelayingTheDataCommandHoldsBackThe354()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Delay(SmtpFaultPoint.Data, TimeSpan.FromMilliseconds(300));

        var clock = Stopwatch.StartNew();
        await Mail.SendAsync(smtp);

        Assert.True(clock.ElapsedMilliseconds >= 290, $"The send took {clock.ElapsedMilliseconds} ms.");
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
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Delay(SmtpFaultPoint.Mail, TimeSpan.FromMilliseconds(250));
        smtp.Faults.Reject(SmtpFaultPoint.Mail, 421);

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(smtp));

        Assert.True(clock.ElapsedMilliseconds >= 240);
        Assert.Equal(SmtpErrorCode.SenderNotAccepted, error.ErrorCode);
        Assert.Equal(SmtpStatusCode.ServiceNotAvailable, error.StatusCode);
        Assert.Equal([SmtpFaultKind.Delay, SmtpFaultKind.Reject], smtp.Faults.Injected.Select(f => f.Kind));
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
