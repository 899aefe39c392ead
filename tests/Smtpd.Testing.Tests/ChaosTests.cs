namespace Smtpd.Testing.Tests;

public sealed class ChaosTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheSameSeedGivesTheSameFaultsInTheSameOrder()
    {
        var first = await RunAsync(seed: 7);
        var second = await RunAsync(seed: 7);

        Assert.Equal(first, second);
        Assert.Contains("ok", first);
        Assert.Contains(first, outcome => outcome != "ok");
    }

    [Fact]
    public async Task AnotherSeedGivesAnotherSequence()
    {
        Assert.NotEqual(await RunAsync(seed: 1), await RunAsync(seed: 2));
    }

    [Fact]
    public async Task ProbabilityOneAlwaysFailsAndZeroNeverDoes()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Chaos = new SmtpChaos(seed: 3)
            .Reject(SmtpFaultPoint.Rcpt, probability: 1, new SmtpReply(450, "4.2.1", "Busy"))
            .Disconnect(SmtpFaultPoint.Mail, probability: 0);

        for (var i = 0; i < 3; i++)
        {
            var error = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(smtp));
            Assert.Equal(SmtpStatusCode.MailboxBusy, error.StatusCode);
        }

        Assert.All(smtp.Faults.Injected, f => Assert.True(f.ByChaos));
        Assert.Equal(3, smtp.Faults.Injected.Count);
    }

    [Fact]
    public async Task ChaosCanDropConnectionsAndDelayReplies()
    {
        var clock = new FaultClock();
        await using var smtp = await SmtpTestServer.StartAsync(o => o.FaultTimeProvider = clock, Ct);
        var delay = TimeSpan.FromSeconds(10);
        smtp.Faults.Chaos = new SmtpChaos(seed: 5)
            .Delay(SmtpFaultPoint.Mail, probability: 1, delay)
            .Disconnect(SmtpFaultPoint.Message, probability: 1);

        var send = Mail.SendAsync(smtp);
        await clock.WaitForTimerAsync(delay);
        Assert.False(send.IsCompleted);
        clock.Advance(delay);
        await Assert.ThrowsAsync<SmtpProtocolException>(() => send);

        Assert.Equal([SmtpFaultKind.Delay, SmtpFaultKind.Disconnect], smtp.Faults.Injected.Select(f => f.Kind));
        Assert.Empty(smtp.Messages);
    }

    [Fact]
    public async Task AScriptedFaultActsBeforeChaos()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Chaos = new SmtpChaos(seed: 1).Reject(SmtpFaultPoint.Mail, probability: 1, new SmtpReply(451, "4.3.0", "chaos"));
        smtp.Faults.Reject(SmtpFaultPoint.Mail, 421, text: "scripted");

        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(smtp));

        Assert.Equal("4.3.2 scripted", error.Message);
        Assert.False(Assert.Single(smtp.Faults.Injected).ByChaos);
    }

    [Fact]
    public void ChaosRulesCheckTheirProbability()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpChaos(1).Reject(SmtpFaultPoint.Rcpt, 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpChaos(1).Disconnect(SmtpFaultPoint.Rcpt, -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SmtpChaos(1).Delay(SmtpFaultPoint.Rcpt, double.NaN, TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentException>(() => new SmtpChaos(1).Reject(SmtpFaultPoint.Rcpt, 0.5, new SmtpReply(250, null, "ok")));
        var chaos = SmtpChaos.Transient(seed: 9, probability: 0.25);
        Assert.Equal(9, chaos.Seed);
        Assert.Equal([SmtpFaultPoint.Mail, SmtpFaultPoint.Rcpt, SmtpFaultPoint.Message], chaos.Rules.Select(r => r.Point));
        Assert.All(chaos.Rules, r => Assert.Equal(0.25, r.Probability));
    }

    /// <summary>Sends 12 messages one after another through transient chaos and lists what happened to each.</summary>
    private static async Task<string[]> RunAsync(int seed)
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Faults.Chaos = SmtpChaos.Transient(seed, probability: 0.3);
        var outcomes = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            try
            {
                await Mail.SendAsync(smtp);
                outcomes.Add("ok");
            }
            catch (SmtpCommandException ex)
            {
                outcomes.Add($"{ex.ErrorCode} {(int)ex.StatusCode}");
            }
        }

        Assert.Equal(outcomes.Count(o => o == "ok"), smtp.Messages.Count);
        return outcomes.ToArray();
    }
}
