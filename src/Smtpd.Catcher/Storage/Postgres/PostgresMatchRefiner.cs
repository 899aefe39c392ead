using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Npgsql;
using Smtpd.Catcher.Search;

namespace Smtpd.Catcher.Storage.Postgres;

/// <summary>
/// A substring term of a PostgreSQL search whose trigram index lookup may ask for a part of the value only
/// (PostgresSearchCompiler's Contains). The exact ILIKE decides, so any part of <paramref name="Value"/> keeps the
/// answer; <see cref="PostgresMatchRefiner"/> puts the part without the value's common trigrams in
/// <paramref name="Parameter"/>.
/// </summary>
/// <param name="Parameter">The index part's ILIKE parameter (a <c>%…%</c> pattern, escaped).</param>
/// <param name="Value">The term's value, literal.</param>
/// <param name="Columns">The columns the term reads (<c>messages.header_from</c> and the like).</param>
/// <param name="Windows">The value's runs of three ASCII letters or digits: where each starts, and its text in lower case.</param>
internal sealed record PostgresTrigramHint(string Parameter, string Value, IReadOnlyList<string> Columns, IReadOnlyList<(int Start, string Text)> Windows) : MatchHint(Parameter)
{
    /// <summary>
    /// The value's runs of three ASCII letters or digits, lower case. pg_trgm makes exactly one trigram of
    /// <c>%abc%</c> for such a run (it splits words at anything else, and lower-cases), so each is one index entry.
    /// </summary>
    /// <param name="value">The term's value.</param>
    /// <returns>The runs, in the order they appear.</returns>
    public static IReadOnlyList<(int Start, string Text)> WindowsOf(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var windows = new List<(int, string)>();
        for (var i = 0; i + 3 <= value.Length; i++)
        {
            if (char.IsAsciiLetterOrDigit(value[i]) && char.IsAsciiLetterOrDigit(value[i + 1]) && char.IsAsciiLetterOrDigit(value[i + 2]))
            {
                windows.Add((i, value.Substring(i, 3).ToLowerInvariant()));
            }
        }

        return windows;
    }

    /// <summary>
    /// The part of the value from the first to the last of <paramref name="rare"/>, with the character on either side
    /// when it ends a word there (pg_trgm then adds the word's padded first or last trigrams, which are often the
    /// rarest: <c>42@</c> makes <c>"42 "</c>).
    /// </summary>
    /// <param name="rare">The texts of the windows to keep.</param>
    /// <returns>The part, or the whole value when no window is rare.</returns>
    public string Part(IReadOnlySet<string> rare)
    {
        ArgumentNullException.ThrowIfNull(rare);
        var kept = Windows.Where(w => rare.Contains(w.Text)).ToList();
        if (kept.Count == 0)
        {
            return Value;
        }

        var start = kept[0].Start;
        var end = kept[^1].Start + 3;
        if (start > 0 && !char.IsAsciiLetterOrDigit(Value[start - 1]))
        {
            start--;
        }

        if (end < Value.Length && !char.IsAsciiLetterOrDigit(Value[end]))
        {
            end++;
        }

        return Value[start..end];
    }
}

/// <summary>
/// Puts into each <see cref="PostgresTrigramHint"/>'s parameter the part of the value without its common trigrams,
/// before a search runs. A trigram found in more than a quarter of the messages narrows little and costs the most
/// (its posting list is the longest), while the rest narrow to nearly the matches themselves; and a part made of
/// fewer rare trigrams leaves more rows for the exact recheck, each a heap fetch (r42 alone: 1,100 rows for 100
/// matches, 10 ms). How common a trigram is in the term's columns is counted in the newest <see cref="SampleIds"/> messages, in one
/// statement for all of a term's trigrams (a primary-key range and <c>strpos</c> on the lower-cased columns: about a
/// millisecond whatever the store's size). The choice is remembered for every connection until the store has moved
/// on by <see cref="ChoiceLifetime"/> ids, as the SQLite store's trigram choice is (Search.SqliteMatchRefiner): any
/// choice keeps the answer exact, so a stale one costs speed only.
/// </summary>
internal static class PostgresMatchRefiner
{
    /// <summary>How many of the newest messages the rarity count reads.</summary>
    internal const int SampleIds = 1000;

    /// <summary>A trigram in more than one message in this many of the sample is common: the index is not asked for it.</summary>
    private const int CommonFraction = 4;

    /// <summary>How many of a value's trigrams are counted at most (spread over the value).</summary>
    private const int WindowsProbed = 16;

    /// <summary>How many new ids a remembered choice serves before the trigrams are counted again.</summary>
    private const long ChoiceLifetime = 50_000;

    /// <summary>The most choices remembered; past it the memory starts over.</summary>
    private const int MaxChoices = 256;

    private static readonly ConcurrentDictionary<string, (string Part, long Newest)> Choices = new(StringComparer.Ordinal);

    /// <summary>The search with its index parts chosen.</summary>
    /// <param name="connection">An open connection to the store, in the search's transaction if it has one.</param>
    /// <param name="store">Identifies the database (a choice is remembered per database).</param>
    /// <param name="query">The search.</param>
    /// <param name="newest">The store's newest id, when the caller knows it; <see langword="null"/> takes any remembered choice.</param>
    /// <returns>The search to run.</returns>
    public static CompiledQuery Refine(NpgsqlConnection connection, string store, CompiledQuery query, long? newest)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(query);
        if (!query.MatchHints.Any(h => h is PostgresTrigramHint))
        {
            return query;
        }

        var parameters = new Dictionary<string, object?>(query.Parameters, StringComparer.Ordinal);
        foreach (var hint in query.MatchHints.OfType<PostgresTrigramHint>())
        {
            var key = store + "\0" + string.Join(",", hint.Columns) + "\0" + hint.Value;
            if (!Choices.TryGetValue(key, out var choice) || (newest is { } now && (now < choice.Newest || now - choice.Newest >= ChoiceLifetime)))
            {
                choice = Probe(connection, hint);
                if (Choices.Count >= MaxChoices)
                {
                    Choices.Clear();
                }

                Choices[key] = choice;
            }

            parameters[hint.Parameter] = Search.SqliteSearchCompiler.ContainsPattern(choice.Part);
        }

        return query with { Parameters = parameters };
    }

    /// <summary>Counts the term's trigrams in the newest messages and keeps the value's part without the common ones.</summary>
    private static (string Part, long Newest) Probe(NpgsqlConnection connection, PostgresTrigramHint hint)
    {
        var distinct = hint.Windows.Select(w => w.Text).Distinct(StringComparer.Ordinal).ToList();
        var step = Math.Max(1.0, distinct.Count / (double)WindowsProbed);
        var probed = new List<string>();
        for (var i = 0.0; (int)i < distinct.Count && probed.Count < WindowsProbed; i += step)
        {
            probed.Add(distinct[(int)i]);
        }

        // The term's columns, lower-cased and joined by a line feed (never part of a run), so a run found is in one column.
        var text = string.Join(" || E'\\n' || ", hint.Columns.Select(c => $"lower(coalesce({c}, ''))"));
        var sql = new StringBuilder("SELECT (SELECT coalesce(max(id), 0) FROM messages), count(*)");
        for (var i = 0; i < probed.Count; i++)
        {
            sql.Append(CultureInfo.InvariantCulture, $", count(*) FILTER (WHERE strpos(t, @w{i}) > 0)");
        }

        sql.Append(CultureInfo.InvariantCulture, $" FROM (SELECT {text} AS t FROM messages WHERE messages.id > (SELECT coalesce(max(id), 0) FROM messages) - {SampleIds}) AS sample");
        using var command = new NpgsqlCommand(sql.ToString(), connection);
        for (var i = 0; i < probed.Count; i++)
        {
            command.Parameters.AddWithValue("w" + i.ToString(CultureInfo.InvariantCulture), probed[i]);
        }

        using var reader = command.ExecuteReader();
        reader.Read();
        var newest = reader.GetInt64(0);
        var sampled = reader.GetInt64(1);
        var rare = probed.Where((_, i) => reader.GetInt64(i + 2) * CommonFraction <= sampled).ToHashSet(StringComparer.Ordinal);
        return (hint.Part(rare), newest);
    }
}
