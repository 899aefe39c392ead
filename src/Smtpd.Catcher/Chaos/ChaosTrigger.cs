namespace Smtpd.Catcher.Chaos;

/// <summary>
/// One of Mailpit's chaos triggers: an SMTP error code and the chance, in percent, that a command fails with it.
/// The same JSON shape as Mailpit's <c>ChaosTrigger</c> (<c>{"ErrorCode":451,"Probability":5}</c>).
/// </summary>
/// <param name="ErrorCode">The reply code, 400 to 599.</param>
/// <param name="Probability">The chance of failing each command, in whole percent from 0 (never) to 100 (always).</param>
public sealed record ChaosTrigger(int ErrorCode, int Probability)
{
    /// <summary>Checks the ranges Mailpit enforces.</summary>
    /// <param name="name">The trigger's name, for the message.</param>
    /// <returns>This trigger.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range.</exception>
    internal ChaosTrigger Validate(string name)
    {
        if (ErrorCode is < 400 or > 599)
        {
            throw new ArgumentOutOfRangeException(name, ErrorCode, $"the {name} trigger's error code must be from 400 to 599");
        }

        if (Probability is < 0 or > 100)
        {
            throw new ArgumentOutOfRangeException(name, Probability, $"the {name} trigger's probability must be from 0 to 100 (percent)");
        }

        return this;
    }
}

/// <summary>
/// Mailpit's three chaos triggers (its <c>ChaosTriggers</c>): MAIL FROM (<see cref="Sender"/>), each RCPT TO
/// (<see cref="Recipient"/>) and AUTH (<see cref="Authentication"/>).
/// </summary>
/// <param name="Sender">Fails MAIL FROM.</param>
/// <param name="Recipient">Fails each RCPT TO.</param>
/// <param name="Authentication">Fails AUTH, before the credentials are checked.</param>
public sealed record ChaosTriggers(ChaosTrigger Sender, ChaosTrigger Recipient, ChaosTrigger Authentication)
{
    /// <summary>Mailpit's defaults: 451 for MAIL and RCPT, 535 for AUTH, all with probability 0 (off).</summary>
    public static ChaosTriggers Off { get; } = new(new(451, 0), new(451, 0), new(535, 0));

    /// <summary>Whether any trigger can fire.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsActive => Sender.Probability > 0 || Recipient.Probability > 0 || Authentication.Probability > 0;
}
