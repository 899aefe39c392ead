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
internal sealed record PageCounts(long Total, long Unread, long Matched, long MatchedUnread);

/// <summary>
/// The list's counts, remembered per pooled SQLite connection until the store changes. Counting every match reads
/// every matching row (a fifth of 100,000 messages for <c>subject:invoice</c>: hundreds of milliseconds), while the
/// page itself reads fifty; a client paging through a search, or polling the list, asks for the same counts again
/// and again. The store changed exactly when the pair (<c>PRAGMA data_version</c>, <c>total_changes()</c>) did:
/// the first moves with every commit of another connection, the second with every change of this one. So a count
/// is never stale, and a store that changes costs one count per change, as without the cache.
/// </summary>
internal sealed class CountCache
{
    /// <summary>The most searches remembered per connection; past it the cache starts over.</summary>
    private const int MaxEntries = 64;

    private static readonly ConditionalWeakTable<object, CountCache> Caches = [];
    private readonly Dictionary<string, (string Stamp, PageCounts Counts)> _entries = new(StringComparer.Ordinal);

    /// <summary>The cache of the native connection behind <paramref name="connection"/> (the pool reuses it).</summary>
    /// <param name="connection">An open connection.</param>
    /// <returns>The cache; one request uses a pooled connection at a time, so it needs no lock.</returns>
    public static CountCache For(SqliteConnection connection) => Caches.GetValue(connection.Handle!, static _ => new CountCache());

    /// <summary>What identifies the store's state as this connection sees it.</summary>
    /// <param name="connection">An open connection, outside a transaction.</param>
    /// <returns>The stamp.</returns>
    public static string Stamp(SqliteConnection connection) =>
        Convert.ToString(StoreSchema.Scalar(connection, "SELECT (SELECT data_version FROM pragma_data_version()) || '/' || total_changes()"), CultureInfo.InvariantCulture) ?? string.Empty;

    /// <summary>The counts for <paramref name="query"/>, counted only if the store changed since they were.</summary>
    /// <param name="query">The search, or <see langword="null"/> for the plain list.</param>
    /// <param name="stamp">The store's <see cref="Stamp"/>, read before the counts' transaction.</param>
    /// <param name="count">Counts.</param>
    /// <returns>The counts.</returns>
    public PageCounts GetOrCount(CompiledQuery? query, string stamp, Func<PageCounts> count)
    {
        var key = Key(query);
        if (_entries.TryGetValue(key, out var entry) && entry.Stamp == stamp)
        {
            return entry.Counts;
        }

        var counts = count();
        if (_entries.Count >= MaxEntries)
        {
            _entries.Clear();
        }

        _entries[key] = (stamp, counts);
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
