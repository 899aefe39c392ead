namespace Smtpd.Catcher.Http.Live;

/// <summary>One message as a list shows it: its ID, its read status and its summary JSON.</summary>
/// <param name="Id">The message's ID.</param>
/// <param name="Read">Whether it has been read.</param>
/// <param name="Json">The summary object the list route returns for it, as UTF-8 JSON.</param>
internal sealed record CatcherMessageSummary(string Id, bool Read, ReadOnlyMemory<byte> Json);

/// <summary>The mailbox counts that <c>stats</c> events and the wait's answer carry.</summary>
/// <param name="Total">Messages in the mailbox.</param>
/// <param name="Unread">Unread messages in the mailbox.</param>
/// <param name="Tags">Every tag in use, sorted.</param>
internal sealed record CatcherMailboxStats(long Total, long Unread, IReadOnlyList<string> Tags);

/// <summary>
/// Searches the stored messages for the live side: the wait looks at the store through it, and matches each new
/// message against the wait's query with it. The query text is the search language of <c>/api/v1/search</c>, so a
/// wait and a search given the same text agree.
/// </summary>
internal interface ICatcherMessageQuery
{
    /// <summary>Checks a query without running it.</summary>
    /// <param name="query">The query text; empty matches every message.</param>
    /// <returns><see langword="null"/> when the query is good; otherwise the reason, in one line, for a <c>400</c>.</returns>
    string? Validate(string query);

    /// <summary>Lists the newest stored messages that match.</summary>
    /// <param name="query">A query that <see cref="Validate"/> accepted.</param>
    /// <param name="limit">The most messages to return, at least 1.</param>
    /// <param name="cancellationToken">Ends the search.</param>
    /// <returns>The matching messages, newest first.</returns>
    ValueTask<IReadOnlyList<CatcherMessageSummary>> ListAsync(string query, int limit, CancellationToken cancellationToken);

    /// <summary>Whether a message just stored matches; called once per <c>new</c> event per waiting request, never on the SMTP session's thread.</summary>
    /// <param name="query">A query that <see cref="Validate"/> accepted.</param>
    /// <param name="message">The message of the <c>new</c> event.</param>
    /// <param name="cancellationToken">Ends the check.</param>
    /// <returns>Whether it matches.</returns>
    ValueTask<bool> MatchesAsync(string query, CatcherStoredMessage message, CancellationToken cancellationToken);

    /// <summary>Counts the mailbox.</summary>
    /// <param name="cancellationToken">Ends the count.</param>
    /// <returns>The counts.</returns>
    ValueTask<CatcherMailboxStats> StatsAsync(CancellationToken cancellationToken);

    /// <summary>The same search limited to one named mailbox (<c>?mailbox=</c> on the live routes).</summary>
    /// <param name="name">The mailbox name, in any letter case.</param>
    /// <returns>The limited search, or <see langword="null"/> when there is no such mailbox (or this search knows none).</returns>
    ICatcherMessageQuery? InMailbox(string name) => null;

    /// <summary>The canonical name of the mailbox this search is limited to, or <see langword="null"/> for every message.</summary>
    string? Mailbox => null;
}
