namespace Smtpd.Catcher.Storage;

/// <summary>Which messages the store keeps; a message goes when any limit says so, oldest first.</summary>
/// <param name="Count">The most messages; 0 for no limit.</param>
/// <param name="Age">The oldest a message may be (by when it was received); <see langword="null"/> for no limit.</param>
/// <param name="Size">The most octets of messages in all; 0 for no limit.</param>
internal sealed record StoreRetention(int Count, TimeSpan? Age, long Size)
{
    /// <summary>Whether every message is kept.</summary>
    public bool IsUnlimited => Count <= 0 && Age is null && Size <= 0;
}

/// <summary>What one prune by retention deleted: the messages with ids from <see cref="FirstId"/> to <see cref="LastId"/>.</summary>
/// <param name="Messages">How many messages.</param>
/// <param name="Bytes">Their size in octets.</param>
/// <param name="FirstId">The lowest id deleted.</param>
/// <param name="LastId">The highest id deleted; every older message is gone too.</param>
internal sealed record StorePruned(long Messages, long Bytes, long FirstId, long LastId);
