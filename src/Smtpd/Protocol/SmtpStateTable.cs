using Smtpd.Sessions;

namespace Smtpd.Protocol;

/// <summary>
/// Which command is legal in which session state, as the rows of <see cref="SmtpProtocol.CommandTable"/> declare it,
/// and the 503 reply for every illegal pair. Sessions look the pair up before they run a command, so no command
/// handler checks state itself.
/// LMTP (RFC 2033) has the same sequence rules; only the greeting it asks for differs, so it has its own replies.
/// </summary>
internal static class SmtpStateTable
{
    private static readonly SessionStates[] Allowed = BuildAllowed();

    // Indexed by protocol (0 SMTP, 1 LMTP), then verb and state.
    private static readonly SmtpReply?[][,] Rejections = [BuildRejections(lmtp: false), BuildRejections(lmtp: true)];

    /// <summary>
    /// Which states accept each verb, from the rows of <see cref="SmtpProtocol.CommandTable"/>, which cite the RFC
    /// sections (RFC 5321 4.1.4 gives the order; RFC 3030 section 2 restricts BDAT transfers).
    /// </summary>
    private static SessionStates[] BuildAllowed()
    {
        var allowed = new SessionStates[Enum.GetValues<SmtpVerb>().Length];
        foreach (var row in SmtpProtocol.CommandTable)
        {
            allowed[(int)row.Verb] = row.States;
        }

        return allowed;
    }

    private static SmtpReply?[,] BuildRejections(bool lmtp)
    {
        var verbs = Enum.GetValues<SmtpVerb>();
        var states = Enum.GetValues<SessionState>();
        var rejections = new SmtpReply?[verbs.Length, states.Length];
        foreach (var verb in verbs)
        {
            foreach (var state in states)
            {
                if (!IsAllowed(verb, state))
                {
                    rejections[(int)verb, (int)state] = new SmtpReply(503, "5.5.1", DescribeRejection(verb, state, lmtp));
                }
            }
        }

        return rejections;
    }

    private static string DescribeRejection(SmtpVerb verb, SessionState state, bool lmtp)
    {
        var name = SmtpProtocol.Row(verb).Name;
        return state switch
        {
            SessionState.Rejected => "Bad sequence of commands: access denied, only QUIT is accepted",
            SessionState.Initial => lmtp ? "Bad sequence of commands: send LHLO first" : "Bad sequence of commands: send HELO or EHLO first",
            _ when verb == SmtpVerb.Mail => "Bad sequence of commands: nested MAIL command",
            _ when verb == SmtpVerb.Auth => "Bad sequence of commands: AUTH not allowed during a mail transaction",
            SessionState.Ready => $"Bad sequence of commands: need MAIL before {name}",
            SessionState.MailGiven => $"Bad sequence of commands: need RCPT before {name}",
            SessionState.BdatInProgress => $"Bad sequence of commands: {name} not allowed during a BDAT transfer (RFC 3030)",
            _ => $"Bad sequence of commands: {name} not allowed here",
        };
    }

    /// <summary>Whether <paramref name="verb"/> may run in <paramref name="state"/>.</summary>
    public static bool IsAllowed(SmtpVerb verb, SessionState state) =>
        (Allowed[(int)verb] & (SessionStates)(1 << (int)state)) != 0;

    /// <summary>The 503 reply for a verb the state does not accept, or <see langword="null"/> when it is accepted.</summary>
    /// <param name="verb">The command's verb.</param>
    /// <param name="state">The session's state.</param>
    /// <param name="lmtp">Whether the session speaks LMTP, whose replies ask for LHLO instead of HELO or EHLO.</param>
    public static SmtpReply? Check(SmtpVerb verb, SessionState state, bool lmtp = false) => Rejections[lmtp ? 1 : 0][(int)verb, (int)state];
}
