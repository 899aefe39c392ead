namespace Smtpd.Catcher.Pop3;

/// <summary>
/// Where a POP3 session stands (RFC 1939 section 3). The session keeps exactly one of these;
/// <see cref="Pop3CommandTable"/> says which commands each state accepts.
/// </summary>
internal enum Pop3State : byte
{
    /// <summary>Greeted; no user named yet (RFC 1939 section 4).</summary>
    Authorization,

    /// <summary>USER was accepted; only PASS (or QUIT) completes the login (RFC 1939 section 7).</summary>
    AwaitingPassword,

    /// <summary><c>AUTH PLAIN</c> without an initial response: the next line is the client's SASL response (RFC 5034 section 4).</summary>
    AwaitingSaslResponse,

    /// <summary>Logged in with the maildrop locked (RFC 1939 section 5).</summary>
    Transaction,

    /// <summary>QUIT in TRANSACTION: the marked messages are removed and the session ends (RFC 1939 section 6).</summary>
    Update,
}

/// <summary>A set of <see cref="Pop3State"/> values, for the command table.</summary>
[Flags]
internal enum Pop3States : byte
{
    None = 0,
    Authorization = 1 << Pop3State.Authorization,
    AwaitingPassword = 1 << Pop3State.AwaitingPassword,
    Transaction = 1 << Pop3State.Transaction,

    /// <summary>Before login: RFC 1939 lets the client give up on USER and start again with USER, AUTH or QUIT.</summary>
    LoggingIn = Authorization | AwaitingPassword,
    Any = LoggingIn | Transaction,
}
