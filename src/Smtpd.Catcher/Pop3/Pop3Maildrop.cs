namespace Smtpd.Catcher.Pop3;

/// <summary>One message of a maildrop as the session lists it.</summary>
/// <param name="Id">The store's id.</param>
/// <param name="Size">Its exact size in octets, as stored (RFC 1939 section 5, LIST: "the exact size of the message").</param>
/// <param name="UniqueId">Its UIDL (RFC 1939 section 7): stable across sessions, 1 to 70 characters from 0x21 to 0x7E.</param>
internal readonly record struct Pop3Message(long Id, long Size, string UniqueId);

/// <summary>What happened when a session asked for its maildrop.</summary>
internal enum Pop3LockResult : byte
{
    /// <summary>The maildrop is locked for this session.</summary>
    Locked,

    /// <summary>Another session of the same user holds the lock (RFC 2449 section 8.1.1, <c>[IN-USE]</c>).</summary>
    InUse,

    /// <summary>The maildrop cannot be read now (RFC 3206 section 4, <c>[SYS/TEMP]</c>).</summary>
    Unavailable,
}

/// <summary>A maildrop locked for one session (RFC 1939 section 4); disposing it releases the lock.</summary>
internal interface IPop3Maildrop : IDisposable
{
    /// <summary>The messages as they were when the maildrop was locked, oldest first; message 1 is the first.</summary>
    IReadOnlyList<Pop3Message> Messages { get; }

    /// <summary>Opens a message's exact content for streaming.</summary>
    /// <param name="message">One of <see cref="Messages"/>.</param>
    /// <returns>The content, or <see langword="null"/> when the message has been removed by other means since the lock.</returns>
    Stream? Open(Pop3Message message);

    /// <summary>Removes messages (the UPDATE state, RFC 1939 section 6).</summary>
    /// <param name="messages">The messages marked as deleted.</param>
    void Remove(IReadOnlyList<Pop3Message> messages);
}

/// <summary>Where sessions find their maildrops.</summary>
internal interface IPop3MaildropSource
{
    /// <summary>Locks the maildrop of an authenticated user.</summary>
    /// <param name="user">The user.</param>
    /// <param name="maildrop">The locked maildrop, when the result is <see cref="Pop3LockResult.Locked"/>.</param>
    /// <returns>Whether it was locked.</returns>
    Pop3LockResult TryLock(string user, out IPop3Maildrop? maildrop);
}
