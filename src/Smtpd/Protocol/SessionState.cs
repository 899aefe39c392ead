namespace Smtpd.Protocol;

/// <summary>
/// Where a session stands in the command sequence of RFC 5321 section 4.1.4. The session keeps exactly one of
/// these; <see cref="SmtpStateTable"/> says which commands each state accepts.
/// </summary>
internal enum SessionState : byte
{
    /// <summary>The host validation callback refused the client: only QUIT is accepted (Tcl smtpd behaviour).</summary>
    Rejected,

    /// <summary>Greeted, but no successful HELO or EHLO yet.</summary>
    Initial,

    /// <summary>HELO or EHLO done; no transaction open.</summary>
    Ready,

    /// <summary>MAIL accepted; no recipient accepted yet.</summary>
    MailGiven,

    /// <summary>At least one RCPT accepted.</summary>
    RecipientGiven,

    /// <summary>At least one non-LAST BDAT chunk received (RFC 3030): MAIL, RCPT and DATA are refused until the LAST chunk or RSET.</summary>
    BdatInProgress,
}

/// <summary>A set of <see cref="SessionState"/> values, for the state table.</summary>
[Flags]
internal enum SessionStates : byte
{
    None = 0,
    Rejected = 1 << SessionState.Rejected,
    Initial = 1 << SessionState.Initial,
    Ready = 1 << SessionState.Ready,
    MailGiven = 1 << SessionState.MailGiven,
    RecipientGiven = 1 << SessionState.RecipientGiven,
    BdatInProgress = 1 << SessionState.BdatInProgress,
    AnyAccepted = Initial | Ready | MailGiven | RecipientGiven | BdatInProgress,
    InTransaction = MailGiven | RecipientGiven | BdatInProgress,
}
