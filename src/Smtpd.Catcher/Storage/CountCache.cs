using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Smtpd.Catcher.Storage;

/// <summary>The counts a list page carries.</summary>
/// <param name="Total">Every message.</param>
/// <param name="Unread">Every unread message.</param>
/// <param name="Matched">The messages the search matches.</param>
/// <param name="MatchedUnread">The unread messages the search matches.</param>
internal sealed record PageCounts(long Total, long Unread, long Matched, long MatchedUnread)
{
    /// <summary>The counts of two disjoint sets of messages together.</summary>
    /// <param name="left">One set's counts.</param>
    /// <param name="right">The other's.</param>
    /// <returns>The sum.</returns>
    public static PageCounts operator +(PageCounts left, PageCounts right) =>
        new(left.Total + right.Total, left.Unread + right.Unread, left.Matched + right.Matched, left.MatchedUnread + right.MatchedUnread);
}

/// <summary>Where the store stood when counts were taken.</summary>
/// <param name="Changes">The store's change counter (<c>store_changes</c>, StoreSchema), or -1 for a store without one.</param>
/// <param name="MaxId">The newest message id.</param>
internal readonly record struct StoreMark(long Changes, long MaxId);

/// <summary>
/// The list's counts, remembered per pooled SQLite connection until the store changes. Counting every match reads
/// every matching row (a fifth of 100,000 messages for <c>subject:invoice</c>: hundreds of milliseconds), while the
/// page itself reads fifty; a client paging through a search, or polling the list, asks for the same counts again
/// and again. The store changed exactly when the pair (<c>PRAGMA data_version</c>, <c>total_changes()</c>) did:
/// the first moves with every commit of another connection, the second with every change of this one. So a count
/// is never stale.
/// </summary>
/// <remarks>
/// A store that receives mail changes all the time, and recounting a common term on every change costs what the
/// cache saves (88 ms for <c>subject:invoice</c> at 100,000 messages). But new mail only adds rows after the newest
/// id, and everything else that can change a count (a delete, retention, a read flag, a tag) moves the store's
/// change counter (<c>store_changes</c>, kept by triggers: StoreSchema). So when the counter has not moved, the
/// counts are the old ones plus the counts of the rows added since, which the scan plan counts in microseconds a row.
/// </remarks>
internal sealed class CountCache
{
    /// <summary>The most searches remembered per connection; past it the cache starts over.</summary>
    private const int MaxEntries = 64;

    private static readonly ConditionalWeakTable<object, CountCache> Caches = [];
    /// <summary>Past this many new ids, a full count (which may use the indexes) is as cheap as counting the new rows.</summary>
    private const long MaxAddedToCount = 20_000;

    private readonly Dictionary<string, (string Stamp, StoreMark Mark, PageCounts Counts)> _entries = new(StringComparer.Ordinal);
    private bool _hasChangeCounter;

    /// <summary>The cache of the native connection behind <paramref name="connection"/> (the pool reuses it).</summary>
    /// <param name="connection">An open connection.</param>
    /// <returns>The cache; one request uses a pooled connection at a time, so it needs no lock.</returns>
    public static CountCache For(SqliteConnection connection) => Caches.GetValue(connection.Handle!, static _ => new CountCache());

    /// <summary>What identifies the store's state as this connection sees it.</summary>
    /// <param name="connection">An open connection, outside a transaction.</param>
    /// <returns>The stamp.</returns>
    public static string Stamp(SqliteConnection connection) =>
        Convert.ToString(StoreSchema.Scalar(connection, "SELECT (SELECT data_version FROM pragma_data_version()) || '/' || total_changes()"), CultureInfo.InvariantCulture) ?? string.Empty;

    /// <summary>
    /// Where the store stands, read in the counts' transaction: its change counter and newest id. A store opened
    /// read-only before the catcher added the counter has none, and is then always counted in full.
    /// </summary>
    /// <param name="connection">The connection, in <paramref name="transaction"/>.</param>
    /// <param name="transaction">The transaction the counts are taken in.</param>
    /// <returns>The mark.</returns>
    public StoreMark Mark(SqliteConnection connection, SqliteTransaction transaction)
    {
        // The table is never dropped, so once seen it needs no more looking for.
        _hasChangeCounter = _hasChangeCounter
            || StoreSchema.Scalar(connection, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'store_changes'", transaction) is not null;
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _hasChangeCounter
            ? "SELECT (SELECT n FROM store_changes WHERE id = 1), (SELECT coalesce(max(id), 0) FROM messages)"
            : "SELECT -1, (SELECT coalesce(max(id), 0) FROM messages)";
        using var reader = command.ExecuteReader();
        reader.Read();
        return new StoreMark(reader.IsDBNull(0) ? -1 : reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>The counts for <paramref name="query"/>, counted only if the store changed since they were.</summary>
    /// <param name="query">The search, or <see langword="null"/> for the plain list.</param>
    /// <param name="stamp">The store's <see cref="Stamp"/>, read before the counts' transaction.</param>
    /// <param name="mark">Reads the store's <see cref="StoreMark"/> in the counts' transaction.</param>
    /// <param name="count">Counts every message.</param>
    /// <param name="countAfter">Counts the messages after an id.</param>
    /// <returns>The counts.</returns>
    public PageCounts GetOrCount(CompiledQuery? query, string stamp, Func<StoreMark> mark, Func<PageCounts> count, Func<long, PageCounts> countAfter)
    {
        var key = Key(query);
        var found = _entries.TryGetValue(key, out var entry);
        if (found && entry.Stamp == stamp)
        {
            return entry.Counts;
        }

        var now = mark();
        var counts = found && now.Changes >= 0 && entry.Mark.Changes == now.Changes && entry.Mark.MaxId <= now.MaxId && now.MaxId - entry.Mark.MaxId <= MaxAddedToCount
            ? entry.Counts + countAfter(entry.Mark.MaxId)
            : count();
        if (_entries.Count >= MaxEntries)
        {
            _entries.Clear();
        }

        _entries[key] = (stamp, now, counts);
        return counts;
    }

    private static string Key(CompiledQuery? query)
    {
        if (query is null)
        {
            return string.Empty;
        }

        var key = new StringBuilder(query.Where);
        foreach (var (name, value) in query.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            // Values are strings and numbers; the type is part of the key, since 1 and '1' compare differently in SQL.
            key.Append('\0').Append(name).Append('=').Append(value?.GetType().Name).Append(':').Append(Convert.ToString(value, CultureInfo.InvariantCulture));
        }

        return key.ToString();
    }
}
