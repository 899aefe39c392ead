namespace Smtpd.Catcher.Chaos;

/// <summary>
/// Failing on purpose, as Mailpit's chaos does, so an application's retry and error paths can be tested against the
/// catcher: probabilistic triggers for MAIL, RCPT and AUTH, and deterministic scripts (<c>rcpt 452 x2</c>). Both run
/// on Smtpd.Testing's fault engine (<see cref="Smtpd.Testing.SmtpFaults"/>).
/// </summary>
public sealed class CatcherChaosOptions
{
    /// <summary>
    /// Whether <c>GET/PUT /api/v1/chaos</c> answer (Mailpit's <c>--enable-chaos</c>); otherwise they answer 400
    /// "Chaos is not enabled", as Mailpit's do. Default <see langword="false"/>: a catcher does not fail mail unless
    /// asked to. Triggers or scripts set here act whether or not this is set.
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// The seed of the triggers' random draws, so a failing run can be replayed; <see langword="null"/> (the default)
    /// picks one at start, readable from <see cref="CatcherChaos.Seed"/>.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>The triggers at start; default <see cref="ChaosTriggers.Off"/>.</summary>
    public ChaosTriggers Triggers
    {
        get;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            field = CatcherChaos.Validate(value);
        }
    } = ChaosTriggers.Off;

    /// <summary>Deterministic faults at start, one script line each (see <see cref="CatcherChaos.AddScript"/>).</summary>
    public IList<string> Scripts { get; } = [];
}
