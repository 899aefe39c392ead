namespace Smtpd.Testing;

/// <summary>A record of one fault that the test server injected, scripted or by chaos.</summary>
public sealed class SmtpInjectedFault
{
    internal SmtpInjectedFault(SmtpFaultPoint point, SmtpFaultKind kind, SmtpReply? reply, TimeSpan delay, string sessionId, bool byChaos, DateTimeOffset at)
    {
        Point = point;
        Kind = kind;
        Reply = reply;
        Delay = delay;
        SessionId = sessionId;
        ByChaos = byChaos;
        At = at;
    }

    /// <summary>Where it acted.</summary>
    public SmtpFaultPoint Point { get; }

    /// <summary>What it did.</summary>
    public SmtpFaultKind Kind { get; }

    /// <summary>The reply sent, for a rejection.</summary>
    public SmtpReply? Reply { get; }

    /// <summary>How long the reply was held back, for a delay.</summary>
    public TimeSpan Delay { get; }

    /// <summary>The <see cref="SmtpSessionContext.Id"/> of the connection it hit.</summary>
    public string SessionId { get; }

    /// <summary>Whether <see cref="SmtpFaults.Chaos"/> chose it, rather than a script.</summary>
    public bool ByChaos { get; }

    /// <summary>When it acted, on <see cref="SmtpFaults.TimeProvider"/>.</summary>
    public DateTimeOffset At { get; }

    /// <inheritdoc/>
    public override string ToString()
    {
        var what = Kind switch
        {
            SmtpFaultKind.Reject => $"rejected with {Reply}",
            SmtpFaultKind.Delay => $"delayed by {Delay.TotalMilliseconds:0} ms",
            _ => "disconnected",
        };
        return $"{SmtpFaults.Describe(Point)}: {what} (session {SessionId}{(ByChaos ? ", chaos" : string.Empty)})";
    }
}
