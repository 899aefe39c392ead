namespace Smtpd.Testing;

/// <summary>What an injected fault does.</summary>
public enum SmtpFaultKind
{
    /// <summary>Sends an error reply instead of running the command (or instead of accepting the message).</summary>
    Reject,

    /// <summary>Holds the reply back for a while, then lets the conversation go on as usual.</summary>
    Delay,

    /// <summary>Drops the connection with no reply, as a crashed server or a broken network would.</summary>
    Disconnect,
}
