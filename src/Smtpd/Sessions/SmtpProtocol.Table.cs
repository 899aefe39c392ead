using Smtpd.Protocol;
using Smtpd.Protocol.Commands;

namespace Smtpd.Sessions;

/// <summary>
/// The command table: one row per verb, declaring the states that accept it (with the RFC section that says so),
/// its handler, whether it is served before TLS, and the EHLO keyword that announces it. <see cref="SmtpStateTable"/>
/// builds the 503 texts from it and <see cref="EhloReply"/> the command keywords; adding a command is a command type
/// and a row here (docs/contributing.md), and <c>SmtpProtocolTableTests</c> checks the table is complete.
/// </summary>
internal sealed partial class SmtpProtocol
{
    // Both fields are in this one file on purpose: static initializers of a partial class run in textual order only
    // within a file, and RowsByVerb is built from CommandTable.

    /// <summary>Every verb's row. The order of the rows is the order in which their EHLO keywords are advertised.</summary>
    internal static readonly SmtpCommandRow[] CommandTable =
    [
        // RFC 5321 4.1.4: EHLO or HELO may be sent at any time; it resets any open transaction.
        new(SmtpVerb.Helo, "HELO", SessionStates.AnyAccepted, static (p, c) => p.ExecuteHelo((HeloCommand)c)) { AllowedBeforeTls = true },
        new(SmtpVerb.Ehlo, "EHLO", SessionStates.AnyAccepted, static (p, c) => p.ExecuteHelo((HeloCommand)c)) { AllowedBeforeTls = true },

        // RFC 2033 4.1: LHLO has the semantics of EHLO. The parser only makes it a verb on LMTP listeners.
        new(SmtpVerb.Lhlo, "LHLO", SessionStates.AnyAccepted, static (p, c) => p.ExecuteHelo((HeloCommand)c)) { AllowedBeforeTls = true },
        new(SmtpVerb.Mail, "MAIL", SessionStates.Ready, static (p, c) => p.ExecuteMailAsync((MailCommand)c)),
        new(SmtpVerb.Rcpt, "RCPT", SessionStates.MailGiven | SessionStates.RecipientGiven, static (p, c) => p.ExecuteRcptAsync((RcptCommand)c)),

        // RFC 5321 3.3: DATA needs at least one accepted recipient. RFC 3030 2: no DATA once BDAT began.
        new(SmtpVerb.Data, "DATA", SessionStates.RecipientGiven, static (p, _) => new(p.ExecuteData())),

        // RFC 3030 2: BDAT after a recipient, and again until the LAST chunk.
        new(SmtpVerb.Bdat, "BDAT", SessionStates.RecipientGiven | SessionStates.BdatInProgress, static (p, c) => p.ExecuteBdat((BdatCommand)c))
        {
            Ehlo = new("CHUNKING", EhloCondition.Always),
        },

        // RFC 5321 4.1.1.5: RSET clears the transaction but not the HELO/EHLO state.
        new(SmtpVerb.Rset, "RSET", SessionStates.AnyAccepted, static (p, _) =>
        {
            p.ResetTransaction();
            return new(p.CountJunk(SmtpReplies.ResetOk));
        }) { AllowedBeforeTls = true },
        new(SmtpVerb.Noop, "NOOP", SessionStates.AnyAccepted, static (p, _) => new(p.CountJunk(SmtpReplies.Ok))) { AllowedBeforeTls = true },

        // A refused client may still say goodbye (Tcl smtpd: "we wait for the client to send a QUIT command").
        new(SmtpVerb.Quit, "QUIT", SessionStates.AnyAccepted | SessionStates.Rejected, static (p, _) =>
        {
            p.Reply(SmtpReplies.Bye);
            return new(true);
        }) { AllowedBeforeTls = true },
        new(SmtpVerb.Vrfy, "VRFY", SessionStates.AnyAccepted, static (p, _) => new(p.CountJunk(SmtpReplies.CannotVerify))),
        new(SmtpVerb.Expn, "EXPN", SessionStates.AnyAccepted, static (p, _) => new(p.CountJunk(SmtpReplies.ExpandNotImplemented))),

        // RFC 3207 4.2: STARTTLS may come at any time; the handler refuses a second one.
        new(SmtpVerb.StartTls, "STARTTLS", SessionStates.AnyAccepted, static (p, _) => new(p.ExecuteStartTls()))
        {
            AllowedBeforeTls = true,
            Ehlo = new("STARTTLS", EhloCondition.TlsOffered),
        },

        // RFC 4954 4: AUTH after EHLO and outside a transaction.
        new(SmtpVerb.Auth, "AUTH", SessionStates.Ready, static (p, c) => p.ExecuteAuthAsync((AuthCommand)c))
        {
            Ehlo = new("AUTH", EhloCondition.AuthOffered),
        },
        new(SmtpVerb.Help, "HELP", SessionStates.AnyAccepted, static (p, _) => new(p.CountJunk(p._lmtp ? SmtpReplies.LmtpHelp : SmtpReplies.Help)))
        {
            Ehlo = new("HELP", EhloCondition.Always),
        },

        // RFC 5321 4.2.4: an unrecognized command is a 500 in any accepted state.
        new(SmtpVerb.Unknown, "UNKNOWN", SessionStates.AnyAccepted, static (p, _) => new(p.CountError(SmtpReplies.CommandUnrecognized))),

        // Another protocol's request is answered and the connection closed, whatever the state.
        new(SmtpVerb.Forbidden, "FORBIDDEN", SessionStates.AnyAccepted | SessionStates.Rejected, static (p, _) =>
        {
            p.Reply(SmtpReplies.ForbiddenProtocol);
            return new(true);
        }),
    ];

    /// <summary><see cref="CommandTable"/> indexed by <see cref="SmtpVerb"/>.</summary>
    private static readonly SmtpCommandRow[] RowsByVerb = IndexByVerb(CommandTable);

    /// <summary>The row of <paramref name="verb"/>.</summary>
    internal static SmtpCommandRow Row(SmtpVerb verb) => RowsByVerb[(int)verb];

    /// <summary>Indexes the rows by verb; a verb with no row, or with two, stops the type from loading at all.</summary>
    internal static SmtpCommandRow[] IndexByVerb(SmtpCommandRow[] table)
    {
        var verbs = Enum.GetValues<SmtpVerb>();
        var rows = new SmtpCommandRow?[verbs.Length];
        foreach (var row in table)
        {
            if (rows[(int)row.Verb] is not null)
            {
                throw new InvalidOperationException($"The command table has two rows for {row.Verb}.");
            }

            rows[(int)row.Verb] = row;
        }

        var missing = verbs.Where(v => rows[(int)v] is null).ToArray();
        if (missing.Length > 0)
        {
            throw new InvalidOperationException($"The command table has no row for {string.Join(", ", missing)}.");
        }

        return rows!;
    }
}
