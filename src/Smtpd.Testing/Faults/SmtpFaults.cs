namespace Smtpd.Testing;

/// <summary>
/// The fault injection of one <see cref="SmtpTestServer"/>: scripted faults, deterministic and applied in the
/// order they were added, and an optional seeded <see cref="Chaos"/> source. Use it to test how an application
/// retries and handles errors.
/// </summary>
/// <remarks>
/// <para>
/// Faults act on every connection of the server. At each hit of a point, every scripted fault for that point
/// counts the hit; all due delays are waited out (added up), then the first due rejection or disconnect acts.
/// Chaos acts only when no scripted rejection or disconnect did. Faults added while connections are open apply
/// from their next hit. A command the server refuses on its own before any fault could act (a <c>503</c> for a
/// command out of sequence, a <c>501</c> for a malformed one) is not a hit.
/// </para>
/// <para>
/// From the client's side: a rejection is an ordinary SMTP error reply (MailKit throws
/// <c>SmtpCommandException</c> with its <c>StatusCode</c>; System.Net.Mail throws <c>SmtpException</c>), a
/// disconnect closes the connection with no reply (MailKit throws <c>SmtpProtocolException</c>), and a delay is a
/// slow server (a client whose timeout is shorter gives up).
/// </para>
/// </remarks>
/// <example>
/// <code>
/// smtp.Faults.Reject(SmtpFaultPoint.Rcpt, 452, "4.2.2", "Mailbox full", times: 2);
/// smtp.Faults.Reject(SmtpFaultPoint.Data, 451);
/// smtp.Faults.Delay(SmtpFaultPoint.Message, TimeSpan.FromSeconds(2));
/// smtp.Faults.Disconnect(SmtpFaultPoint.Mail);
/// smtp.Faults.Reject(SmtpFaultPoint.Auth, 535, times: SmtpFault.Unlimited);
/// </code>
/// </example>
public sealed class SmtpFaults
{
    private static readonly string[] PointNames = Enum.GetValues<SmtpFaultPoint>()
        .Select(p => p switch
        {
            SmtpFaultPoint.Connect => "connect",
            SmtpFaultPoint.Message => "end of message",
            SmtpFaultPoint.StartTls => "STARTTLS",
            _ => p.ToString().ToUpperInvariant(),
        })
        .ToArray();

    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly List<SmtpFault> _scripted = [];
    private readonly List<SmtpInjectedFault> _injected = [];
    private SmtpChaos? _chaos;

    /// <summary>
    /// Creates an empty fault engine whose delays wait on the system clock. <see cref="SmtpTestServer"/> has its own
    /// (<see cref="SmtpTestServer.Faults"/>); create one to inject faults into any other server with <see cref="AttachTo"/>.
    /// </summary>
    public SmtpFaults()
        : this(TimeProvider.System)
    {
    }

    /// <summary>
    /// Creates an empty fault engine whose delays wait on <paramref name="timeProvider"/> and whose
    /// <see cref="Injected"/> records are stamped by it. Pass a fake clock (<c>FakeTimeProvider</c>) and a test
    /// advances it past a delay instead of sleeping through it.
    /// </summary>
    /// <param name="timeProvider">The clock.</param>
    /// <exception cref="ArgumentNullException"><paramref name="timeProvider"/> is <see langword="null"/>.</exception>
    public SmtpFaults(TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        _time = timeProvider;
    }

    /// <summary>The clock that delays wait on and <see cref="Injected"/> records are stamped by.</summary>
    public TimeProvider TimeProvider => _time;

    /// <summary>The scripted faults, in the order they act, including exhausted ones until <see cref="Clear"/>.</summary>
    public IReadOnlyList<SmtpFault> Scripted
    {
        get
        {
            lock (_gate)
            {
                return _scripted.ToArray();
            }
        }
    }

    /// <summary>Every fault injected so far, in order: what a failing test should print.</summary>
    public IReadOnlyList<SmtpInjectedFault> Injected
    {
        get
        {
            lock (_gate)
            {
                return _injected.ToArray();
            }
        }
    }

    /// <summary>The seeded probabilistic fault source, or <see langword="null"/> (the default) for none.</summary>
    public SmtpChaos? Chaos
    {
        get
        {
            lock (_gate)
            {
                return _chaos;
            }
        }

        set
        {
            lock (_gate)
            {
                _chaos = value;
            }
        }
    }

    /// <summary>
    /// Answers the next <paramref name="times"/> hits at <paramref name="point"/> (after <paramref name="skip"/>)
    /// with the reply <paramref name="code"/> <paramref name="enhancedStatusCode"/> <paramref name="text"/>
    /// instead of running the command. At <see cref="SmtpFaultPoint.Connect"/> the reply replaces the greeting;
    /// at <see cref="SmtpFaultPoint.Message"/> it replaces the <c>250</c> and the message is not recorded.
    /// </summary>
    /// <param name="point">Where.</param>
    /// <param name="code">A 4xx (transient) or 5xx (permanent) code, such as 452 or 550.</param>
    /// <param name="enhancedStatusCode">An RFC 3463 code such as <c>4.2.2</c>; <see langword="null"/> picks the usual one for the code. It is sent once the client has used EHLO.</param>
    /// <param name="text">The text; <see langword="null"/> picks the usual one for the code.</param>
    /// <param name="times">How many hits; <see cref="SmtpFault.Unlimited"/> for all.</param>
    /// <param name="skip">How many hits to let through first.</param>
    /// <returns>The fault, to check <see cref="SmtpFault.Fired"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="code"/> is not 4xx or 5xx, <paramref name="times"/> is below 1 or <paramref name="skip"/> negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="enhancedStatusCode"/> is malformed or <paramref name="text"/> contains CR or LF.</exception>
    public SmtpFault Reject(SmtpFaultPoint point, int code, string? enhancedStatusCode = null, string? text = null, int times = 1, int skip = 0)
    {
        if (code is < 400 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(code), code, "A rejection is a 4xx or 5xx reply.");
        }

        var standard = DefaultReply(code);
        return Reject(point, new SmtpReply(code, enhancedStatusCode ?? standard.EnhancedStatusCode, text ?? standard.Text), times, skip);
    }

    /// <summary>Answers the next <paramref name="times"/> hits at <paramref name="point"/> with <paramref name="reply"/>.</summary>
    /// <param name="point">Where.</param>
    /// <param name="reply">A 4xx or 5xx reply.</param>
    /// <param name="times">How many hits; <see cref="SmtpFault.Unlimited"/> for all.</param>
    /// <param name="skip">How many hits to let through first.</param>
    /// <returns>The fault.</returns>
    /// <exception cref="ArgumentException"><paramref name="reply"/> is not 4xx or 5xx.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="times"/> is below 1 or <paramref name="skip"/> negative.</exception>
    public SmtpFault Reject(SmtpFaultPoint point, SmtpReply reply, int times = 1, int skip = 0) =>
        Add(new SmtpFault(CheckPoint(point), SmtpFaultKind.Reject, CheckRejection(reply), TimeSpan.Zero, CheckTimes(times), CheckSkip(skip)));

    /// <summary>
    /// Holds back the reply to the next <paramref name="times"/> hits at <paramref name="point"/> by
    /// <paramref name="delay"/> on <see cref="TimeProvider"/>, then carries on as usual (or with a rejection or
    /// disconnect that is also due). The wait ends early if the client disconnects or the server stops.
    /// </summary>
    /// <param name="point">Where; <see cref="SmtpFaultPoint.Message"/> delays the final reply to the content, <see cref="SmtpFaultPoint.Data"/> the <c>354</c>.</param>
    /// <param name="delay">How long; more than zero.</param>
    /// <param name="times">How many hits; <see cref="SmtpFault.Unlimited"/> for all.</param>
    /// <param name="skip">How many hits to let through first.</param>
    /// <returns>The fault.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delay"/> is not positive, <paramref name="times"/> is below 1 or <paramref name="skip"/> negative.</exception>
    public SmtpFault Delay(SmtpFaultPoint point, TimeSpan delay, int times = 1, int skip = 0) =>
        Add(new SmtpFault(CheckPoint(point), SmtpFaultKind.Delay, null, CheckDelay(delay), CheckTimes(times), CheckSkip(skip)));

    /// <summary>
    /// Drops the connection, with no reply, at the next <paramref name="times"/> hits at <paramref name="point"/>:
    /// the client sees the connection close right after it sent the command (or the content, at
    /// <see cref="SmtpFaultPoint.Message"/>, where the message is not recorded).
    /// </summary>
    /// <param name="point">Where.</param>
    /// <param name="times">How many hits; <see cref="SmtpFault.Unlimited"/> for all.</param>
    /// <param name="skip">How many hits to let through first.</param>
    /// <returns>The fault.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="times"/> is below 1 or <paramref name="skip"/> negative.</exception>
    public SmtpFault Disconnect(SmtpFaultPoint point, int times = 1, int skip = 0) =>
        Add(new SmtpFault(CheckPoint(point), SmtpFaultKind.Disconnect, null, TimeSpan.Zero, CheckTimes(times), CheckSkip(skip)));

    /// <summary>
    /// Makes these faults act on a server built from <paramref name="server"/>: wraps its
    /// <see cref="SmtpServerOptions.FilterCommand"/> (command points), <see cref="SmtpServerOptions.ValidateHost"/>
    /// (<see cref="SmtpFaultPoint.Connect"/>) and <see cref="SmtpServerOptions.Deliver"/>
    /// (<see cref="SmtpFaultPoint.Message"/>). A fault acts first; when none does, the callback that was set runs.
    /// Call it after setting those callbacks and before the server starts.
    /// </summary>
    /// <param name="server">The options of the server to inject faults into.</param>
    /// <exception cref="ArgumentException"><paramref name="server"/> delivers through <see cref="SmtpServerOptions.DeliverMime"/> or <see cref="SmtpServerOptions.DeliverLines"/>, which cannot be wrapped.</exception>
    public void AttachTo(SmtpServerOptions server)
    {
        ArgumentNullException.ThrowIfNull(server);
        if (server.DeliverMime is not null || server.DeliverLines is not null)
        {
            throw new ArgumentException("Faults at the end of a message wrap Deliver; DeliverMime and DeliverLines cannot be wrapped.", nameof(server));
        }

        var filter = server.FilterCommand;
        server.FilterCommand = async (session, verb, ct) =>
        {
            if (PointOf(verb) is { } point && await ApplyAsync(point, session, ct) is { } fault)
            {
                return fault;
            }

            return filter is null ? SmtpVerdict.Accept : await filter(session, verb, ct);
        };

        var validateHost = server.ValidateHost;
        server.ValidateHost = async (session, ct) =>
        {
            if (await ApplyAsync(SmtpFaultPoint.Connect, session, ct) is { } fault)
            {
                return fault;
            }

            return validateHost is null ? SmtpVerdict.Accept : await validateHost(session, ct);
        };

        var deliver = server.Deliver;
        server.Deliver = async (message, ct) =>
        {
            if (await ApplyAsync(SmtpFaultPoint.Message, message.Session, ct) is { } fault)
            {
                return fault;
            }

            return deliver is null ? SmtpVerdict.Accept : await deliver(message, ct);
        };
    }

    /// <summary>Removes every scripted fault and the chaos source, and forgets <see cref="Injected"/>.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _scripted.Clear();
            _injected.Clear();
            _chaos = null;
        }
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        lock (_gate)
        {
            var lines = _scripted.Select(f => f.ToString()).ToList();
            if (_chaos is not null)
            {
                lines.Add(_chaos.ToString());
            }

            return lines.Count == 0 ? "no faults" : string.Join(Environment.NewLine, lines);
        }
    }

    internal static string Describe(SmtpFaultPoint point) =>
        (int)point >= 0 && (int)point < PointNames.Length ? PointNames[(int)point] : point.ToString();

    /// <summary>The usual reply for a code, used when a script gives only the code.</summary>
    internal static SmtpReply DefaultReply(int code) => code switch
    {
        421 => new SmtpReply(421, "4.3.2", "Service not available"),
        450 => new SmtpReply(450, "4.2.1", "Mailbox unavailable, try again later"),
        451 => new SmtpReply(451, "4.3.0", "Requested action aborted: local error in processing"),
        452 => new SmtpReply(452, "4.3.1", "Insufficient system storage"),
        454 => new SmtpReply(454, "4.7.0", "TLS not available due to temporary reason"),
        530 => new SmtpReply(530, "5.7.0", "Authentication required"),
        535 => new SmtpReply(535, "5.7.8", "Authentication credentials invalid"),
        550 => new SmtpReply(550, "5.1.1", "Mailbox unavailable"),
        552 => new SmtpReply(552, "5.3.4", "Message size exceeds fixed limit"),
        553 => new SmtpReply(553, "5.1.3", "Mailbox name not allowed"),
        554 => new SmtpReply(554, "5.0.0", "Transaction failed"),
        _ => new SmtpReply(code, $"{code / 100}.0.0", "Fault injected by Smtpd.Testing"),
    };

    internal static SmtpReply CheckRejection(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return reply.Code >= 400 ? reply : throw new ArgumentException("A rejection is a 4xx or 5xx reply.", nameof(reply));
    }

    internal static TimeSpan CheckDelay(TimeSpan delay) =>
        delay > TimeSpan.Zero && delay <= TimeSpan.FromDays(1)
            ? delay
            : throw new ArgumentOutOfRangeException(nameof(delay), delay, "A delay is more than zero and at most one day.");

    /// <summary>Decides what happens at one hit, records it, and waits out any delay.</summary>
    /// <returns>The verdict that ends the hit (a rejection or <see cref="SmtpVerdict.Disconnect"/>), or <see langword="null"/> to carry on.</returns>
    internal ValueTask<SmtpVerdict?> ApplyAsync(SmtpFaultPoint point, SmtpSessionContext session, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.Zero;
        SmtpVerdict? verdict = null;
        Task? wait = null;
        lock (_gate)
        {
            if (_scripted.Count == 0 && _chaos is null)
            {
                return new((SmtpVerdict?)null);
            }

            foreach (var fault in _scripted)
            {
                if (fault.Point != point || !fault.Observe())
                {
                    continue;
                }

                if (fault.Kind == SmtpFaultKind.Delay)
                {
                    fault.Fire();
                    delay += fault.Delay;
                    _injected.Add(new SmtpInjectedFault(point, SmtpFaultKind.Delay, null, fault.Delay, session.Id, byChaos: false, _time.GetUtcNow()));
                }
                else if (verdict is null)
                {
                    fault.Fire();
                    verdict = ToVerdict(fault.Kind, fault.Reply);
                    _injected.Add(new SmtpInjectedFault(point, fault.Kind, fault.Reply, TimeSpan.Zero, session.Id, byChaos: false, _time.GetUtcNow()));
                }
            }

            if (_chaos is not null)
            {
                foreach (var rule in _chaos.Draw(point))
                {
                    if (rule.Kind == SmtpFaultKind.Delay)
                    {
                        delay += rule.Delay;
                        _injected.Add(new SmtpInjectedFault(point, SmtpFaultKind.Delay, null, rule.Delay, session.Id, byChaos: true, _time.GetUtcNow()));
                    }
                    else if (verdict is null)
                    {
                        verdict = ToVerdict(rule.Kind, rule.Reply);
                        _injected.Add(new SmtpInjectedFault(point, rule.Kind, rule.Reply, TimeSpan.Zero, session.Id, byChaos: true, _time.GetUtcNow()));
                    }
                }
            }

            if (delay > TimeSpan.Zero)
            {
                // The timer is set before the delay shows in Injected: a test that sees the record and then advances
                // a fake clock past the delay can never advance it before the timer exists.
                wait = Task.Delay(delay, _time, cancellationToken);
            }
        }

        return wait is null ? new(verdict) : DelayThenAsync(wait, verdict);

        static async ValueTask<SmtpVerdict?> DelayThenAsync(Task wait, SmtpVerdict? verdict)
        {
            await wait;
            return verdict;
        }
    }


    private static SmtpFaultPoint? PointOf(string verb) => verb switch
    {
        "EHLO" or "LHLO" => SmtpFaultPoint.Ehlo,
        "HELO" => SmtpFaultPoint.Helo,
        "STARTTLS" => SmtpFaultPoint.StartTls,
        "AUTH" => SmtpFaultPoint.Auth,
        "MAIL" => SmtpFaultPoint.Mail,
        "RCPT" => SmtpFaultPoint.Rcpt,
        "DATA" => SmtpFaultPoint.Data,
        "BDAT" => SmtpFaultPoint.Bdat,
        "RSET" => SmtpFaultPoint.Rset,
        "NOOP" => SmtpFaultPoint.Noop,
        "QUIT" => SmtpFaultPoint.Quit,
        "VRFY" => SmtpFaultPoint.Vrfy,
        "EXPN" => SmtpFaultPoint.Expn,
        "HELP" => SmtpFaultPoint.Help,
        _ => null,
    };

    private static SmtpVerdict ToVerdict(SmtpFaultKind kind, SmtpReply? reply) =>
        kind == SmtpFaultKind.Disconnect ? SmtpVerdict.Disconnect : SmtpVerdict.Reject(reply!);

    private static SmtpFaultPoint CheckPoint(SmtpFaultPoint point) =>
        Enum.IsDefined(point) ? point : throw new ArgumentOutOfRangeException(nameof(point), point, "Unknown fault point.");

    private static int CheckTimes(int times) =>
        times >= 1 ? times : throw new ArgumentOutOfRangeException(nameof(times), times, "A fault acts at least once; use SmtpFault.Unlimited for every time.");

    private static int CheckSkip(int skip) =>
        skip >= 0 ? skip : throw new ArgumentOutOfRangeException(nameof(skip), skip, "Skip is zero or more.");

    private SmtpFault Add(SmtpFault fault)
    {
        lock (_gate)
        {
            _scripted.Add(fault);
        }

        return fault;
    }
}
