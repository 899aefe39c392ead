using System.Security.Cryptography;
using Smtpd.Testing;

namespace Smtpd.Catcher.Chaos;

/// <summary>
/// A running catcher's chaos: Mailpit's triggers, the seed of their draws, and the fault engine that also takes
/// deterministic scripts. Changes act from the next command.
/// </summary>
public sealed class CatcherChaos
{
    private readonly Lock _gate = new();
    private ChaosTriggers _triggers = ChaosTriggers.Off;

    internal CatcherChaos(CatcherChaosOptions options)
    {
        Enabled = options.Enabled;
        Seed = options.Seed ?? RandomNumberGenerator.GetInt32(int.MaxValue);
        foreach (var script in options.Scripts)
        {
            try
            {
                AddScript(script);
            }
            catch (FormatException ex)
            {
                throw new CatcherConfigurationException(nameof(CatcherOptions.Chaos), ex.Message, ex);
            }
        }

        SetTriggers(options.Triggers);
    }

    /// <summary>Whether the chaos API routes answer (Mailpit's <c>--enable-chaos</c>).</summary>
    public bool Enabled { get; }

    /// <summary>The seed of the triggers' draws: the same seed and the same commands from one client give the same failures.</summary>
    public int Seed { get; }

    /// <summary>The fault engine. Script faults here from .NET code, or read <see cref="SmtpFaults.Injected"/> to see what failed.</summary>
    public SmtpFaults Faults { get; } = new();

    /// <summary>The current triggers.</summary>
    public ChaosTriggers Triggers
    {
        get
        {
            lock (_gate)
            {
                return _triggers;
            }
        }
    }

    /// <summary>Replaces the triggers (Mailpit's <c>PUT /api/v1/chaos</c>); the draws restart from <see cref="Seed"/>.</summary>
    /// <param name="triggers">The triggers.</param>
    /// <exception cref="ArgumentOutOfRangeException">A code is not 400 to 599, or a probability not 0 to 100.</exception>
    public void SetTriggers(ChaosTriggers triggers)
    {
        ArgumentNullException.ThrowIfNull(triggers);
        Validate(triggers);
        lock (_gate)
        {
            _triggers = triggers;
            Faults.Chaos = triggers.IsActive
                ? new SmtpChaos(Seed)
                    .Reject(SmtpFaultPoint.Mail, triggers.Sender.Probability / 100.0, triggers.Sender.ErrorCode)
                    .Reject(SmtpFaultPoint.Rcpt, triggers.Recipient.Probability / 100.0, triggers.Recipient.ErrorCode)
                    .Reject(SmtpFaultPoint.Auth, triggers.Authentication.Probability / 100.0, triggers.Authentication.ErrorCode)
                : null;
        }
    }

    /// <summary>
    /// Adds a deterministic fault written as <c>POINT ACTION [xN|always] [after N]</c>: <c>rcpt 452 x2</c> answers
    /// the next two RCPT commands with 452; <c>message 451</c> refuses the next message after its content;
    /// <c>mail disconnect</c> drops the connection at the next MAIL; <c>data delay=2s always</c> holds back every
    /// <c>354</c> by two seconds. Points: connect, ehlo, helo, starttls, auth, mail, rcpt, data, bdat, rset, noop,
    /// quit, vrfy, expn, help, message (and Mailpit's sender, recipient, authentication).
    /// </summary>
    /// <param name="script">The line.</param>
    /// <returns>The fault, whose <see cref="SmtpFault.Fired"/> counts what it did.</returns>
    /// <exception cref="FormatException">The line is not a script; the message says why in one line.</exception>
    public SmtpFault AddScript(string script) => ChaosScript.Parse(script).AddTo(Faults);

    /// <summary>Removes every scripted fault; the triggers stay.</summary>
    public void ClearScripts()
    {
        lock (_gate)
        {
            // SmtpFaults.Clear also drops the drawn chaos, so the triggers are put back.
            Faults.Clear();
            SetTriggers(_triggers);
        }
    }

    /// <summary>
    /// Reads triggers written as Mailpit's <c>--chaos-triggers</c>: comma-separated <c>KEY:CODE:PERCENT</c>, where KEY
    /// is <c>sender</c>, <c>recipient</c> (or <c>recipients</c>) or <c>auth</c> (or <c>authentication</c>), in any case.
    /// </summary>
    /// <param name="text">The text, such as <c>Sender:451:50,Recipient:452:10</c>.</param>
    /// <param name="start">The triggers the text changes.</param>
    /// <returns>The triggers.</returns>
    /// <exception cref="FormatException">The text is malformed or a value out of range; the message says which, in one line.</exception>
    internal static ChaosTriggers ParseTriggers(string text, ChaosTriggers start)
    {
        var triggers = start;
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = part.Split(':');
            if (fields.Length != 3
                || !int.TryParse(fields[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code)
                || !int.TryParse(fields[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var percent))
            {
                throw new FormatException($"'{part}' is not a chaos trigger: write KEY:CODE:PERCENT, such as sender:451:50");
            }

            var trigger = new ChaosTrigger(code, percent);
            try
            {
                triggers = fields[0].ToLowerInvariant() switch
                {
                    "sender" => triggers with { Sender = trigger.Validate("Sender") },
                    "recipient" or "recipients" => triggers with { Recipient = trigger.Validate("Recipient") },
                    "auth" or "authentication" => triggers with { Authentication = trigger.Validate("Authentication") },
                    _ => throw new FormatException($"'{fields[0]}' is not a chaos trigger: use sender, recipient or authentication"),
                };
            }
            catch (ArgumentOutOfRangeException ex)
            {
                throw new FormatException(ex.Message.Split(" (Parameter", 2)[0], ex);
            }
        }

        return triggers;
    }

    /// <summary>Checks every trigger's ranges.</summary>
    /// <param name="triggers">The triggers.</param>
    /// <returns><paramref name="triggers"/>.</returns>
    internal static ChaosTriggers Validate(ChaosTriggers triggers)
    {
        ArgumentNullException.ThrowIfNull(triggers.Sender, nameof(ChaosTriggers.Sender));
        ArgumentNullException.ThrowIfNull(triggers.Recipient, nameof(ChaosTriggers.Recipient));
        ArgumentNullException.ThrowIfNull(triggers.Authentication, nameof(ChaosTriggers.Authentication));
        triggers.Sender.Validate("Sender");
        triggers.Recipient.Validate("Recipient");
        triggers.Authentication.Validate("Authentication");
        return triggers;
    }
}
