using System.Globalization;
using Microsoft.Data.Sqlite;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Search;

/// <summary>
/// A MATCH parameter of a compiled search that the store may rewrite, once it can look at the index, into an
/// expression the index evaluates faster (<see cref="SqliteMatchRefiner"/>).
/// </summary>
/// <param name="Parameter">The parameter's name in <see cref="CompiledQuery.Parameters"/>.</param>
internal abstract record MatchHint(string Parameter);

/// <summary>
/// A substring term's trigram filter (<c>{columns} : "value"</c> on <c>messages_fields_fts</c>). The exact LIKE that
/// follows it decides, so the filter may be any expression that keeps every message whose columns contain all of
/// <paramref name="Trigrams"/>: the AND of a few of them keeps at least the phrase's matches.
/// </summary>
/// <param name="Parameter">The parameter's name.</param>
/// <param name="Columns">The FTS5 column filter, <c>{from_text}</c> and the like.</param>
/// <param name="Trigrams">The value's distinct three-character substrings, in order.</param>
internal sealed record TrigramHint(string Parameter, string Columns, IReadOnlyList<string> Trigrams) : MatchHint(Parameter);

/// <summary>
/// Free text on <c>messages_fts</c>: the AND of <paramref name="Phrases"/>, each a phrase whose last token is matched as
/// a prefix. FTS5 answers a prefix by merging the whole doclist of every term that starts with it before the first
/// row, which a rowid range or a LIMIT does not shorten; the same match written as the exact phrase OR the phrases
/// with each longer term of the index in its place is read incrementally.
/// </summary>
/// <param name="Parameter">The parameter's name.</param>
/// <param name="Phrases">The phrases, in the order of the AND.</param>
internal sealed record PrefixHint(string Parameter, IReadOnlyList<PrefixPhrase> Phrases) : MatchHint(Parameter);

/// <summary>One free-text phrase of a <see cref="PrefixHint"/>.</summary>
/// <param name="Text">The phrase as the user wrote it.</param>
/// <param name="Head">The text before its last token; <see langword="null"/> when the last token is not known here.</param>
/// <param name="LastToken">
/// The last token as the index holds it (lower case), when the phrase is ASCII: then the unicode61 tokenizer splits it at
/// every character that is not an ASCII letter or digit and only lower-cases it, which is known here without asking
/// SQLite. <see langword="null"/> otherwise, and the phrase keeps its prefix query.
/// </param>
internal sealed record PrefixPhrase(string Text, string? Head, string? LastToken)
{
    /// <summary>Splits off the last token of an ASCII phrase.</summary>
    /// <param name="text">The phrase.</param>
    /// <returns>The phrase with its last token, when known.</returns>
    public static PrefixPhrase Of(string text)
    {
        if (!System.Text.Ascii.IsValid(text) || text.Contains('\0', StringComparison.Ordinal))
        {
            return new(text, null, null);
        }

        var end = text.Length;
        while (end > 0 && !char.IsAsciiLetterOrDigit(text[end - 1]))
        {
            end--;
        }

        var start = end;
        while (start > 0 && char.IsAsciiLetterOrDigit(text[start - 1]))
        {
            start--;
        }

        return end == 0 ? new(text, null, null) : new(text, text[..start], text[start..end].ToLowerInvariant());
    }
}

/// <summary>
/// Rewrites a search's MATCH parameters at execution time, in the reading transaction, using what the index holds
/// then. Neither rewrite changes which messages a search matches:
/// <list type="bullet">
/// <item>a trigram filter becomes the AND of its two or three sparsest trigrams. A phrase of common trigrams
/// (<c>sender42@</c>: every message's From has <c>sen</c>, <c>end</c>, <c>nde</c>, <c>der</c>) makes FTS5 walk and
/// compare the positions of every common doclist, hundreds of milliseconds at 1,000,000 messages, while the AND of the
/// rare ones is a few seeks; the exact LIKE still decides.</item>
/// <item>a free-text prefix <c>"lorem ipsum"*</c> becomes <c>"lorem ipsum" OR "lorem ipsumx" …</c>, one exact phrase
/// per term of the index that starts with the last token, listed from <c>fts5vocab</c> within bounds that leave the
/// token itself out (it is in the phrase already). An exact phrase is read incrementally, so a rowid range or a LIMIT bounds its cost.</item>
/// </list>
/// </summary>
internal static class SqliteMatchRefiner
{
    /// <summary>How many trigrams the rewritten filter ANDs: the first rare one does most of the narrowing.</summary>
    private const int TrigramsKept = 3;

    /// <summary>How many trigrams are probed at most (spread over the value): each probe is a short index walk.</summary>
    private const int TrigramsProbed = 16;

    /// <summary>
    /// How common a trigram is in the term's columns is told from the newest <c>ProbeIds</c> ids, counting up to
    /// <c>ProbeDepth</c> messages: a common trigram stops the count early, a rare one has few entries in the range, so
    /// every probe reads at most a few thousand index entries whatever the store's size.
    /// </summary>
    private const int ProbeDepth = 32;

    /// <summary>The newest ids a trigram probe looks at (see <see cref="ProbeDepth"/>).</summary>
    private const int ProbeIds = 2000;

    /// <summary>Past this many longer terms, the prefix query is kept (a short prefix such as <c>a</c>).</summary>
    private const int MaxExpansion = 32;

    /// <summary>How many new ids a remembered trigram choice serves before the trigrams are probed again.</summary>
    private const long ChoiceLifetime = 50_000;

    /// <summary>The most trigram choices remembered; past it the memory starts over.</summary>
    private const int MaxChoices = 256;

    /// <summary>
    /// The trigrams chosen per filter and the newest id when they were. Any choice keeps the search's answer (every
    /// subset of the trigrams is a valid filter), so a choice may be shared by every connection and store and kept
    /// while the store grows; it is only probed again once the mail has moved on, for the speed's sake.
    /// </summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, (string Match, long Newest)> TrigramChoices = new(StringComparer.Ordinal);

    /// <summary>The per-connection vocabulary table (temp schema, so nothing is written to the store).</summary>
    private const string VocabularyTable = "temp.smtpd_fts_terms";

    /// <summary>Creates what <see cref="Refine"/> reads on this connection; call outside a transaction.</summary>
    /// <param name="connection">An open connection to the store.</param>
    /// <param name="query">The search about to run.</param>
    public static void Prepare(SqliteConnection connection, CompiledQuery? query)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (query?.MatchHints is { } hints && hints.Any(h => h is PrefixHint))
        {
            // IF NOT EXISTS: a pooled connection keeps its temp schema, so this runs once per native connection.
            StoreSchema.Execute(connection, $"CREATE VIRTUAL TABLE IF NOT EXISTS {VocabularyTable} USING fts5vocab(main, messages_fts, row)");
        }
    }

    /// <summary>The search with its hinted MATCH parameters rewritten.</summary>
    /// <param name="connection">The connection, prepared with <see cref="Prepare"/>.</param>
    /// <param name="transaction">The reading transaction the search runs in (the rewrite must see the same index).</param>
    /// <param name="query">The search.</param>
    /// <returns>
    /// The search to run, and whether every free-text prefix was rewritten (<see langword="false"/> when one is still a
    /// prefix query, whose cost a rowid range does not bound).
    /// </returns>
    public static (CompiledQuery Query, bool PrefixesGone) Refine(SqliteConnection connection, SqliteTransaction transaction, CompiledQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.MatchHints is not { Count: > 0 } hints)
        {
            return (query, true);
        }

        var parameters = new Dictionary<string, object?>(query.Parameters, StringComparer.Ordinal);
        var prefixesGone = true;
        long? newest = null;
        foreach (var hint in hints)
        {
            switch (hint)
            {
                case TrigramHint trigram:
                    newest ??= Convert.ToInt64(StoreSchema.Scalar(connection, "SELECT coalesce(max(rowid), 0) FROM messages", transaction), CultureInfo.InvariantCulture);
                    parameters[trigram.Parameter] = SparsestTrigrams(connection, transaction, trigram, newest.Value);
                    break;
                case PrefixHint prefix:
                    var parts = new List<string>(prefix.Phrases.Count);
                    foreach (var phrase in prefix.Phrases)
                    {
                        var expanded = Expand(connection, transaction, phrase);
                        prefixesGone &= expanded is not null;
                        parts.Add(expanded ?? SqliteSearchCompiler.FtsPhrase(phrase.Text));
                    }

                    parameters[prefix.Parameter] = string.Join(" AND ", parts);
                    break;
                default:
                    break;
            }
        }

        return (query with { Parameters = parameters }, prefixesGone);
    }

    private static string SparsestTrigrams(SqliteConnection connection, SqliteTransaction transaction, TrigramHint hint, long newest)
    {
        var key = hint.Columns + "\0" + string.Join("\0", hint.Trigrams);
        if (TrigramChoices.TryGetValue(key, out var known) && known.Newest <= newest && newest - known.Newest < ChoiceLifetime)
        {
            return known.Match;
        }

        var match = ProbeTrigrams(connection, transaction, hint, newest);
        if (TrigramChoices.Count >= MaxChoices)
        {
            TrigramChoices.Clear();
        }

        TrigramChoices[key] = (match, newest);
        return match;
    }

    private static string ProbeTrigrams(SqliteConnection connection, SqliteTransaction transaction, TrigramHint hint, long newest)
    {
        using var probe = connection.CreateCommand();
        probe.Transaction = transaction;
        // With the term's column filter: a trigram common elsewhere (digits in every Message-ID) may be rare here. The
        // rowid range bounds the walk for a trigram that is common in other columns only.
        probe.CommandText = $"SELECT count(*) FROM (SELECT rowid FROM messages_fields_fts WHERE messages_fields_fts MATCH $trigram AND rowid > $floor LIMIT {ProbeDepth})";
        var parameter = probe.Parameters.Add(new SqliteParameter("$trigram", string.Empty));
        probe.Parameters.AddWithValue("$floor", newest - ProbeIds);
        var step = Math.Max(1.0, hint.Trigrams.Count / (double)TrigramsProbed);
        var probed = new List<(string Trigram, long Count)>();
        for (var i = 0.0; (int)i < hint.Trigrams.Count && probed.Count < TrigramsProbed; i += step)
        {
            var trigram = hint.Trigrams[(int)i];
            parameter.Value = hint.Columns + " : " + SqliteSearchCompiler.FtsString(trigram);
            probed.Add((trigram, Convert.ToInt64(probe.ExecuteScalar(), CultureInfo.InvariantCulture)));
        }

        // OrderBy is stable: among equally rare trigrams the earlier ones in the value are kept. A trigram that filled
        // its probe is common; ANDing it costs a seek per candidate and narrows little, so it is kept only when no
        // two rarer ones exist.
        var ranked = probed.OrderBy(p => p.Count).ToList();
        var rare = ranked.TakeWhile(p => p.Count < ProbeDepth).Count();
        var kept = ranked.Take(rare >= 2 ? Math.Min(rare, TrigramsKept) : TrigramsKept).Select(p => SqliteSearchCompiler.FtsString(p.Trigram));
        return $"{hint.Columns} : ({string.Join(" AND ", kept)})";
    }

    /// <summary>The phrase as exact phrases, one per term its last token is a prefix of; <see langword="null"/> to keep the prefix.</summary>
    private static string? Expand(SqliteConnection connection, SqliteTransaction transaction, PrefixPhrase phrase)
    {
        if (phrase.LastToken is not { } token || phrase.Head is not { } head)
        {
            return null;
        }

        using var terms = connection.CreateCommand();
        terms.Transaction = transaction;
        // The terms that start with the token and are longer: fts5vocab takes only >= and <= bounds (a > or < is checked
        // after the row, whose count it has already read from the term's whole doclist), so the bounds are ones no term
        // can equal. Terms hold neither U+0001 nor U+10FFFF (unicode61 splits at both), so "token U+0001" leaves out the
        // token itself, whose doclist is the large one, and "token U+10FFFF" is above every longer term and below the next.
        terms.CommandText = $"SELECT term FROM {VocabularyTable} WHERE term >= $low AND term <= $high LIMIT {MaxExpansion + 1}";
        terms.Parameters.AddWithValue("$low", token + "\u0001");
        terms.Parameters.AddWithValue("$high", token + "\U0010FFFF");
        var phrases = new List<string> { SqliteSearchCompiler.FtsString(phrase.Text) };
        using (var reader = terms.ExecuteReader())
        {
            while (reader.Read())
            {
                phrases.Add(SqliteSearchCompiler.FtsString(head + reader.GetString(0)));
            }
        }

        return phrases.Count > MaxExpansion + 1 ? null : "(" + string.Join(" OR ", phrases) + ")";
    }
}
