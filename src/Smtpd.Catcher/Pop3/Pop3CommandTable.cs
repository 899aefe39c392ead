namespace Smtpd.Catcher.Pop3;

/// <summary>How a command's arguments look.</summary>
internal enum Pop3Arguments : byte
{
    /// <summary>No arguments.</summary>
    None,

    /// <summary>One message number (RFC 1939 RETR, DELE).</summary>
    Message,

    /// <summary>An optional message number (RFC 1939 LIST, UIDL).</summary>
    OptionalMessage,

    /// <summary>A message number and a count of lines (RFC 1939 TOP).</summary>
    MessageAndLines,

    /// <summary>The rest of the line, which may contain spaces (RFC 1939 USER and PASS).</summary>
    Text,

    /// <summary>A mechanism name and an optional initial response (RFC 5034 section 4), or nothing to list the mechanisms.</summary>
    Mechanism,
}

/// <summary>One row of the command table.</summary>
/// <param name="Verb">The command.</param>
/// <param name="States">The states in which it is legal.</param>
/// <param name="Arguments">What follows the keyword.</param>
internal readonly record struct Pop3CommandRule(Pop3Verb Verb, Pop3States States, Pop3Arguments Arguments);

/// <summary>
/// Which command is legal in which state, and what its arguments look like (RFC 1939 sections 4 to 7, RFC 2449
/// section 5, RFC 2595 section 4, RFC 5034 section 4). The session checks every command here before it runs it,
/// so no handler repeats a state check.
/// </summary>
internal static class Pop3CommandTable
{
    private static readonly Pop3CommandRule[] Rules = Build(
    [
        new(Pop3Verb.User, Pop3States.LoggingIn, Pop3Arguments.Text),
        new(Pop3Verb.Pass, Pop3States.AwaitingPassword, Pop3Arguments.Text),
        new(Pop3Verb.Auth, Pop3States.LoggingIn, Pop3Arguments.Mechanism),
        new(Pop3Verb.Stls, Pop3States.Authorization, Pop3Arguments.None),
        // RFC 2449 section 5: CAPA is legal in every state.
        new(Pop3Verb.Capa, Pop3States.Any, Pop3Arguments.None),
        new(Pop3Verb.Quit, Pop3States.Any, Pop3Arguments.None),
        new(Pop3Verb.Stat, Pop3States.Transaction, Pop3Arguments.None),
        new(Pop3Verb.List, Pop3States.Transaction, Pop3Arguments.OptionalMessage),
        new(Pop3Verb.Retr, Pop3States.Transaction, Pop3Arguments.Message),
        new(Pop3Verb.Dele, Pop3States.Transaction, Pop3Arguments.Message),
        new(Pop3Verb.Noop, Pop3States.Transaction, Pop3Arguments.None),
        new(Pop3Verb.Rset, Pop3States.Transaction, Pop3Arguments.None),
        new(Pop3Verb.Top, Pop3States.Transaction, Pop3Arguments.MessageAndLines),
        new(Pop3Verb.Uidl, Pop3States.Transaction, Pop3Arguments.OptionalMessage),
    ]);

    /// <summary>The rule of a known verb.</summary>
    /// <param name="verb">The verb; not <see cref="Pop3Verb.Unknown"/>.</param>
    /// <returns>Its rule.</returns>
    public static Pop3CommandRule For(Pop3Verb verb) => Rules[(int)verb];

    /// <summary>Whether <paramref name="verb"/> is legal in <paramref name="state"/>.</summary>
    /// <param name="verb">The verb.</param>
    /// <param name="state">The session's state.</param>
    /// <returns><see langword="true"/> when the table allows it.</returns>
    public static bool IsAllowed(Pop3Verb verb, Pop3State state) =>
        verb != Pop3Verb.Unknown && (Rules[(int)verb].States & (Pop3States)(1 << (int)state)) != 0;

    private static Pop3CommandRule[] Build(Pop3CommandRule[] rules)
    {
        var table = new Pop3CommandRule[Enum.GetValues<Pop3Verb>().Length];
        foreach (var rule in rules)
        {
            table[(int)rule.Verb] = rule;
        }

        return table;
    }
}
