namespace Smtpd.Testing;

/// <summary>
/// Probabilistic fault injection with a seed, like Mailpit's chaos triggers: each rule fails its point with some
/// probability. The same seed and the same sequence of commands give the same faults, so a failure found by
/// chaos can be replayed.
/// </summary>
/// <remarks>
/// Every hit at a point draws one number per rule for that point, in the order the rules were added, whether or
/// not a scripted fault acts on the same hit; the draws therefore depend only on the seed and on the order of
/// hits. Connections running in parallel interleave their hits, so only a single client gives a strictly
/// reproducible sequence.
/// </remarks>
/// <example>
/// <code>
/// smtp.Faults.Chaos = new SmtpChaos(seed: 42)
///     .Reject(SmtpFaultPoint.Rcpt, probability: 0.2, new SmtpReply(451, "4.3.0", "Try again later"))
///     .Disconnect(SmtpFaultPoint.Message, probability: 0.05);
/// </code>
/// </example>
public sealed class SmtpChaos
{
    private readonly List<SmtpChaosRule> _rules = [];
    private readonly Random _random;

    /// <summary>Creates a chaos source with no rules yet.</summary>
    /// <param name="seed">The seed of the random sequence; the same seed gives the same faults.</param>
    public SmtpChaos(int seed)
    {
        Seed = seed;
#pragma warning disable CA5394 // Fault injection needs a reproducible sequence, not a secure one.
        _random = new Random(seed);
#pragma warning restore CA5394
    }

    /// <summary>The seed, to print when a chaos test fails so the run can be replayed.</summary>
    public int Seed { get; }

    /// <summary>The rules, in the order they are drawn.</summary>
    public IReadOnlyList<SmtpChaosRule> Rules
    {
        get
        {
            lock (_rules)
            {
                return _rules.ToArray();
            }
        }
    }

    /// <summary>
    /// The usual transient failures a sending application must retry: MAIL, RCPT and the end of each message
    /// each get <c>451 4.3.0</c> with <paramref name="probability"/>.
    /// </summary>
    /// <param name="seed">The seed.</param>
    /// <param name="probability">The chance of a failure at each of those points, from 0 to 1.</param>
    /// <returns>The chaos source.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="probability"/> is outside 0 to 1.</exception>
    public static SmtpChaos Transient(int seed, double probability = 0.1)
    {
        var reply = new SmtpReply(451, "4.3.0", "Temporary failure injected by chaos, try again later");
        return new SmtpChaos(seed)
            .Reject(SmtpFaultPoint.Mail, probability, reply)
            .Reject(SmtpFaultPoint.Rcpt, probability, reply)
            .Reject(SmtpFaultPoint.Message, probability, reply);
    }

    /// <summary>Rejects hits at <paramref name="point"/> with <paramref name="probability"/>.</summary>
    /// <param name="point">Where.</param>
    /// <param name="probability">The chance for each hit, from 0 to 1.</param>
    /// <param name="reply">The reply; <see langword="null"/> for <c>451 4.3.0</c>.</param>
    /// <returns>This instance, to add more rules.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="probability"/> is outside 0 to 1.</exception>
    /// <exception cref="ArgumentException"><paramref name="reply"/> is not 4xx or 5xx.</exception>
    public SmtpChaos Reject(SmtpFaultPoint point, double probability, SmtpReply? reply = null) =>
        Add(new SmtpChaosRule(point, SmtpFaultKind.Reject, probability, SmtpFaults.CheckRejection(reply ?? SmtpFaults.DefaultReply(451)), TimeSpan.Zero));

    /// <summary>Rejects hits at <paramref name="point"/> with <paramref name="probability"/>, with the usual reply for <paramref name="code"/>.</summary>
    /// <param name="point">Where.</param>
    /// <param name="probability">The chance for each hit, from 0 to 1.</param>
    /// <param name="code">A 4xx or 5xx code, such as 451 or 535; the enhanced code and text are the ones <see cref="SmtpFaults.Reject(SmtpFaultPoint, int, string?, string?, int, int)"/> picks.</param>
    /// <returns>This instance, to add more rules.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="probability"/> is outside 0 to 1, or <paramref name="code"/> is not 4xx or 5xx.</exception>
    public SmtpChaos Reject(SmtpFaultPoint point, double probability, int code) =>
        code is >= 400 and <= 599
            ? Reject(point, probability, SmtpFaults.DefaultReply(code))
            : throw new ArgumentOutOfRangeException(nameof(code), code, "A rejection is a 4xx or 5xx reply.");

    /// <summary>Drops the connection at <paramref name="point"/> with <paramref name="probability"/>.</summary>
    /// <param name="point">Where.</param>
    /// <param name="probability">The chance for each hit, from 0 to 1.</param>
    /// <returns>This instance, to add more rules.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="probability"/> is outside 0 to 1.</exception>
    public SmtpChaos Disconnect(SmtpFaultPoint point, double probability) =>
        Add(new SmtpChaosRule(point, SmtpFaultKind.Disconnect, probability, null, TimeSpan.Zero));

    /// <summary>Holds back the reply at <paramref name="point"/> by <paramref name="delay"/> with <paramref name="probability"/>.</summary>
    /// <param name="point">Where.</param>
    /// <param name="probability">The chance for each hit, from 0 to 1.</param>
    /// <param name="delay">How long; more than zero.</param>
    /// <returns>This instance, to add more rules.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="probability"/> is outside 0 to 1, or <paramref name="delay"/> is not positive.</exception>
    public SmtpChaos Delay(SmtpFaultPoint point, double probability, TimeSpan delay) =>
        Add(new SmtpChaosRule(point, SmtpFaultKind.Delay, probability, null, SmtpFaults.CheckDelay(delay)));

    /// <inheritdoc/>
    public override string ToString() => $"chaos seed {Seed}: {string.Join("; ", Rules)}";

    /// <summary>Draws for every rule at <paramref name="point"/>, in order. Called under the owner's lock.</summary>
    internal IEnumerable<SmtpChaosRule> Draw(SmtpFaultPoint point)
    {
        var chosen = new List<SmtpChaosRule>();
        lock (_rules)
        {
            foreach (var rule in _rules)
            {
#pragma warning disable CA5394 // See the constructor.
                if (rule.Point == point && _random.NextDouble() < rule.Probability)
#pragma warning restore CA5394
                {
                    chosen.Add(rule);
                }
            }
        }

        return chosen;
    }

    private SmtpChaos Add(SmtpChaosRule rule)
    {
        lock (_rules)
        {
            _rules.Add(rule);
        }

        return this;
    }
}

/// <summary>One rule of an <see cref="SmtpChaos"/> source.</summary>
public sealed class SmtpChaosRule
{
    internal SmtpChaosRule(SmtpFaultPoint point, SmtpFaultKind kind, double probability, SmtpReply? reply, TimeSpan delay)
    {
        if (!(probability >= 0 && probability <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "A probability is from 0 to 1.");
        }

        Point = point;
        Kind = kind;
        Probability = probability;
        Reply = reply;
        Delay = delay;
    }

    /// <summary>Where the rule acts.</summary>
    public SmtpFaultPoint Point { get; }

    /// <summary>What it does.</summary>
    public SmtpFaultKind Kind { get; }

    /// <summary>The chance that it acts on each hit, from 0 to 1.</summary>
    public double Probability { get; }

    /// <summary>The reply, for a rejection.</summary>
    public SmtpReply? Reply { get; }

    /// <summary>How long, for a delay.</summary>
    public TimeSpan Delay { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{SmtpFaults.Describe(Point)} {Kind.ToString().ToLowerInvariant()} p={Probability}";
}
