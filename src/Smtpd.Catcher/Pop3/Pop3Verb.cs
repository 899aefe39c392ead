namespace Smtpd.Catcher.Pop3;

/// <summary>The POP3 commands this server knows (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).</summary>
internal enum Pop3Verb : byte
{
    /// <summary>Not a command this server knows.</summary>
    Unknown,
    User,
    Pass,
    Auth,
    Stls,
    Capa,
    Quit,
    Stat,
    List,
    Retr,
    Dele,
    Noop,
    Rset,
    Top,
    Uidl,
}
