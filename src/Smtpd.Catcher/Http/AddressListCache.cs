using System.Collections.Concurrent;

namespace Smtpd.Catcher.Http;

/// <summary>
/// Remembers the mailboxes parsed from recent address headers. Every summary (each list page, each <c>new</c> event)
/// parses From, To, Cc and Reply-To again from the stored text with MimeKit, and that parse was a tenth of a poll's
/// CPU and half of a <c>new</c> event's (docs/performance.md "Catcher ingest"). The same few senders and recipients
/// recur across a test suite's mail and across the pages a client polls, so most parses are repeats.
/// </summary>
/// <remarks>
/// The lists handed out are immutable and shared. The cache is bounded in entries and in key length, and is emptied
/// when full rather than tracking use: a hostile sender with ever-new addresses costs one parse each, as without it.
/// </remarks>
internal sealed class AddressListCache
{
    /// <summary>The most headers remembered: a few thousand distinct address lines cover a large suite's mail.</summary>
    internal const int MaxEntries = 4096;

    /// <summary>Longer headers are parsed every time: long lists are rare, and memory stays under MaxEntries × this.</summary>
    internal const int MaxKeyLength = 512;

    private readonly ConcurrentDictionary<string, IReadOnlyList<ApiAddress>> _entries = new(StringComparer.Ordinal);
    private readonly Func<string, IReadOnlyList<ApiAddress>> _parse;

    /// <summary>Creates a cache over <paramref name="parse"/>.</summary>
    /// <param name="parse">Parses one header's text; must return a list no one changes.</param>
    public AddressListCache(Func<string, IReadOnlyList<ApiAddress>> parse) => _parse = parse;

    /// <summary>How many headers are remembered now.</summary>
    public int Count => _entries.Count;

    /// <summary>The mailboxes of <paramref name="text"/>, parsed once while remembered.</summary>
    /// <param name="text">The stored header text.</param>
    /// <returns>The shared, immutable list.</returns>
    public IReadOnlyList<ApiAddress> Get(string text)
    {
        if (text.Length > MaxKeyLength)
        {
            return _parse(text);
        }

        if (_entries.TryGetValue(text, out var known))
        {
            return known;
        }

        var parsed = _parse(text);
        if (_entries.Count >= MaxEntries)
        {
            _entries.Clear();
        }

        _entries.TryAdd(text, parsed);
        return parsed;
    }
}
