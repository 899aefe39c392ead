namespace Smtpd.Catcher.Storage;

/// <summary>Which messages the store keeps; a message goes when any limit says so, oldest first.</summary>
/// <param name="Count">The most messages; 0 for no limit.</param>
/// <param name="Age">The oldest a message may be (by when it was received); <see langword="null"/> for no limit.</param>
/// <param name="Size">The most octets of messages in all; 0 for no limit.</param>
internal sealed record StoreRetention(int Count, TimeSpan? Age, long Size)
{
    /// <summary>
    /// The named mailboxes with a <c>keep:N</c> rule: each keeps its newest N messages. An older one leaves the
    /// mailbox, and leaves the store once it is in no named mailbox (docs/cli.md "Mailboxes").
    /// </summary>
    public IReadOnlyDictionary<string, int> MailboxKeep { get; init; } = new Dictionary<string, int>();

    /// <summary>Whether every message is kept.</summary>
    public bool IsUnlimited => Count <= 0 && Age is null && Size <= 0 && MailboxKeep.Count == 0;
}

/// <summary>What one prune by retention deleted: the messages with ids from <see cref="FirstId"/> to <see cref="LastId"/>.</summary>
/// <param name="Messages">How many messages.</param>
/// <param name="Bytes">Their size in octets.</param>
/// <param name="FirstId">The lowest id deleted.</param>
/// <param name="LastId">
/// The highest id deleted. After a store-wide limit every older message is gone too; a mailbox's <c>keep:</c> removes
/// only messages of that mailbox in the range (and <paramref name="Messages"/> is 0 when they all stay in another mailbox).
/// </param>
internal sealed record StorePruned(long Messages, long Bytes, long FirstId, long LastId);
