namespace Smtpd.Testing;

/// <summary>
/// One scripted fault, as returned by <see cref="SmtpFaults.Reject(SmtpFaultPoint, int, string?, string?, int, int)"/>,
/// <see cref="SmtpFaults.Delay"/> and <see cref="SmtpFaults.Disconnect"/>: it acts on the hits at its
/// <see cref="Point"/> after the first <see cref="Skip"/>, <see cref="Times"/> times.
/// </summary>
/// <remarks>
/// A hit is one occurrence of the point on any connection of the server (one RCPT command, one message, one
/// connection). Every fault at a point counts every hit, so <c>Reject(Rcpt, 452, times: 2)</c> followed by
/// <c>Delay(Rcpt, ..., skip: 2)</c> rejects the first two RCPT commands and delays the third.
/// </remarks>
public sealed class SmtpFault
{
    /// <summary>A value for <c>times</c> that never runs out.</summary>
    public const int Unlimited = int.MaxValue;

    private int _seen;
    private int _fired;

    internal SmtpFault(SmtpFaultPoint point, SmtpFaultKind kind, SmtpReply? reply, TimeSpan delay, int times, int skip)
    {
        Point = point;
        Kind = kind;
        Reply = reply;
        Delay = delay;
        Times = times;
        Skip = skip;
    }

    /// <summary>Where the fault acts.</summary>
    public SmtpFaultPoint Point { get; }

    /// <summary>What it does.</summary>
    public SmtpFaultKind Kind { get; }

    /// <summary>The reply sent by a <see cref="SmtpFaultKind.Reject"/> fault; <see langword="null"/> for the other kinds.</summary>
    public SmtpReply? Reply { get; }

    /// <summary>How long a <see cref="SmtpFaultKind.Delay"/> fault holds the reply back; zero for the other kinds.</summary>
    public TimeSpan Delay { get; }

    /// <summary>How many hits it acts on; <see cref="Unlimited"/> for all of them.</summary>
    public int Times { get; }

    /// <summary>How many hits it lets pass before it starts to act.</summary>
    public int Skip { get; }

    /// <summary>How many times it has acted so far.</summary>
    public int Fired => Volatile.Read(ref _fired);

    /// <summary>Whether it has acted <see cref="Times"/> times and will not act again.</summary>
    public bool IsExhausted => Fired >= Times;

    /// <summary>Counts one hit; returns whether the fault is due on it. Called under the owner's lock.</summary>
    internal bool Observe()
    {
        _seen++;
        return _seen > Skip && _fired < Times;
    }

    /// <summary>Marks one action. Called under the owner's lock.</summary>
    internal void Fire() => Volatile.Write(ref _fired, _fired + 1);

    /// <inheritdoc/>
    public override string ToString()
    {
        var what = Kind switch
        {
            SmtpFaultKind.Reject => $"reject with {Reply}",
            SmtpFaultKind.Delay => $"delay by {Delay.TotalMilliseconds:0} ms",
            _ => "disconnect",
        };
        var times = Times == Unlimited ? "every time" : Times == 1 ? "once" : $"{Times} times";
        var skip = Skip > 0 ? $" after {Skip} passed" : string.Empty;
        return $"{SmtpFaults.Describe(Point)}: {what}, {times}{skip} ({Fired} done)";
    }
}
