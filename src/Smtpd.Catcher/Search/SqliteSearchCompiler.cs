using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Search;

/// <summary>
/// A search compiled for the store: a boolean SQL expression over the row of table <c>messages</c>, and the values of
/// its parameters. The store puts <see cref="Where"/> into its own statement, which must name the table
/// <c>messages</c> without an alias: <c>SELECT … FROM messages WHERE {Where} ORDER BY id DESC LIMIT $limit</c>, or
/// <c>SELECT count(*) FROM messages WHERE {Where}</c>, or <c>DELETE FROM messages WHERE {Where}</c>, then calls
/// <see cref="AddParametersTo"/>. No user text is ever part of <see cref="Where"/>; it is all in the parameters.
/// </summary>
/// <param name="Where">The expression; <c>1</c> for a query without terms.</param>
/// <param name="Parameters">The parameters <see cref="Where"/> names, each starting with <see cref="SqliteSearchCompiler.ParameterPrefix"/>.</param>
/// <param name="ScanWhere">
/// The same test written for one row at a time (<see cref="SqliteSearchCompiler"/> "plans"): it matches exactly the
/// rows <see cref="Where"/> matches, with the same parameters, but looks a row up in the indexes instead of asking
/// them for every match first. It costs what the rows it is evaluated on cost, so it is the right form for the newest
/// few hundred rows of a common term and for the rows added since a count; <see cref="Where"/> is for a rare term
/// over the whole store.
/// </param>
internal sealed record CompiledSearch(string Where, IReadOnlyList<KeyValuePair<string, object>> Parameters, string ScanWhere)
{
    /// <summary>The MATCH parameters the store may rewrite before running the search (<see cref="SqliteMatchRefiner"/>).</summary>
    public IReadOnlyList<MatchHint> MatchHints { get; init; } = [];

    /// <summary>
    /// The same test again, for a walk over many of the newest ids: every index it asks (full text, trigrams, tags,
    /// headers) is asked only for the rowids above <see cref="SqliteSearchCompiler.ScanFloorParameter"/>, so it costs
    /// what the index entries in that range cost, where <see cref="ScanWhere"/> tests substrings row by row. It matches
    /// exactly what <see cref="Where"/> matches on the rows above the floor.
    /// </summary>
    public string RangeWhere { get; init; } = "1";

    /// <summary>Adds the parameters to a command whose text contains <see cref="Where"/>.</summary>
    /// <param name="command">The command.</param>
    public void AddParametersTo(SqliteCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        foreach (var (name, value) in Parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
    }
}

/// <summary>
/// Compiles a <see cref="SearchQuery"/> to SQL over the store's schema (version 3: <c>messages</c>,
/// <c>message_tags</c>, <c>messages_fts</c>, <c>messages_fields_fts</c>, <c>message_headers</c>; docs/search.md lists
/// what each must hold). The HTTP API and <c>smtpd list --query</c>
/// both search through this, so they answer the same query the same way. docs/search.md says what each term matches.
/// </summary>
/// <remarks>
/// Two plans, one meaning. <see cref="CompiledSearch.Where"/> asks the full-text and trigram indexes for every
/// message that can match (<c>messages.id IN (SELECT rowid … MATCH …)</c>) and checks the exact condition on those:
/// fast when the term is rare, but a common term (<c>subject:invoice</c>, a fifth of the store) makes SQLite collect
/// tens of thousands of ids before the first row of a page. <see cref="CompiledSearch.ScanWhere"/> tests one row at
/// a time (a LIKE on the row's own columns, an EXISTS on its tags or headers, and for free text an FTS5 query limited to
/// the rowids above <see cref="ScanFloorParameter"/>), so a newest-first
/// walk stops after one page when the term is common. The store picks the plan per query (MessageStore.Page).
/// </remarks>
internal static class SqliteSearchCompiler
{
    /// <summary>
    /// The parameter <see cref="CompiledSearch.ScanWhere"/> names and the store binds: the scan plan is only ever
    /// evaluated on rows with ids above it, and its full-text test asks FTS5 for just that rowid range.
    /// </summary>
    public const string ScanFloorParameter = "$scan_floor";

    /// <summary>Every parameter this compiler names starts with this, so the store's own parameters must not.</summary>
    public const string ParameterPrefix = "$sq";

    /// <summary>Parses and compiles a query.</summary>
    /// <param name="query">The query text.</param>
    /// <param name="timeZone">The zone of dates written without an offset (Mailpit's <c>tz</c> parameter).</param>
    /// <param name="limits">The parse limits; the defaults when <see langword="null"/>.</param>
    /// <returns>The compiled search.</returns>
    /// <exception cref="SearchSyntaxException">The query is not valid; answer 400 with its message.</exception>
    public static CompiledSearch Compile(string query, TimeZoneInfo timeZone, SearchLimits? limits = null) =>
        Compile(SearchQuery.Parse(query, limits), timeZone);

    /// <summary>Compiles a parsed query.</summary>
    /// <param name="query">The query.</param>
    /// <param name="timeZone">The zone of dates written without an offset (Mailpit's <c>tz</c> parameter).</param>
    /// <returns>The compiled search.</returns>
    public static CompiledSearch Compile(SearchQuery query, TimeZoneInfo timeZone)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(timeZone);
        var builder = new Builder(timeZone);
        // The positive free-text terms are one FTS5 query (their AND), evaluated once: the index does the intersecting.
        var positiveText = query.Terms.OfType<TextTerm>().Where(t => !t.Negated).ToList();
        if (positiveText.Count > 0)
        {
            builder.Add(builder.FullText(positiveText), negated: false);
        }

        foreach (var term in query.Terms)
        {
            if (term is TextTerm { Negated: false })
            {
                continue;
            }

            builder.Add(builder.Predicate(term), term.Negated);
        }

        return builder.Build();
    }

    /// <summary>
    /// The FTS5 string for free text: a phrase in double quotes (a double quote inside doubled, so no FTS5 operator,
    /// column filter, NEAR, ^ or * the user typed is ever syntax), matched as a prefix on its last token. FTS5 splits
    /// the phrase with the table's unicode61 tokenizer, so punctuation separates words exactly as it did when the
    /// message was indexed; a phrase with no letter or digit has no tokens and matches nothing. FTS5 ends a string at
    /// NUL, so NUL (which the parser already refuses) becomes a space rather than an unterminated string.
    /// </summary>
    /// <param name="text">The free text.</param>
    /// <returns>The FTS5 phrase.</returns>
    public static string FtsPhrase(string text) => FtsString(text) + "*";

    /// <summary>An FTS5 string: double quotes around, a double quote inside doubled, NUL (which ends an FTS5 string) a space.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The FTS5 string.</returns>
    internal static string FtsString(string text) => "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal).Replace('\0', ' ') + "\"";

    /// <summary>A LIKE pattern for "contains <paramref name="value"/>", with <c>\</c> escaping <c>\ % _</c> (used with <c>ESCAPE '\'</c>).</summary>
    /// <param name="value">The substring.</param>
    /// <returns>The pattern.</returns>
    public static string ContainsPattern(string value) =>
        "%" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%";

    /// <summary>One term's test in both plans (see the class remarks).</summary>
    /// <param name="Indexed">The form that asks the indexes for every match first.</param>
    /// <param name="Scan">The form that tests one row.</param>
    /// <param name="Range">The form that asks the indexes for the rows above the scan floor only; the scan form when omitted.</param>
    private sealed record Plans(string Indexed, string Scan, string? Range = null)
    {
        public static Plans Same(string predicate) => new(predicate, predicate);
    }

    private sealed class Builder(TimeZoneInfo timeZone)
    {
        private readonly StringBuilder _where = new();
        private readonly List<KeyValuePair<string, object>> _parameters = [];
        private readonly List<MatchHint> _hints = [];

        private readonly StringBuilder _range = new();

        private void Add(string predicate, bool negated)
        {
            if (_where.Length > 0)
            {
                _where.Append(" AND ");
            }

            // Every predicate is two-valued (columns that may be NULL are coalesced), so NOT is the exact complement.
            _where.Append(negated ? "NOT (" : "(").Append(predicate).Append(')');
        }

        private readonly StringBuilder _scan = new();

        public void Add(Plans predicate, bool negated)
        {
            Add(predicate.Indexed, negated);
            if (_scan.Length > 0)
            {
                _scan.Append(" AND ");
            }

            _scan.Append(negated ? "NOT (" : "(").Append(predicate.Scan).Append(')');
            if (_range.Length > 0)
            {
                _range.Append(" AND ");
            }

            _range.Append(negated ? "NOT (" : "(").Append(predicate.Range ?? predicate.Scan).Append(')');
        }

        public CompiledSearch Build() => new(_where.Length == 0 ? "1" : _where.ToString(), _parameters, _scan.Length == 0 ? "1" : _scan.ToString())
        {
            MatchHints = _hints,
            RangeWhere = _range.Length == 0 ? "1" : _range.ToString(),
        };

        public Plans FullText(IEnumerable<TextTerm> terms)
        {
            var texts = terms.Select(t => t.Text).ToList();
            var match = Parameter(string.Join(" AND ", texts.Select(FtsPhrase)));
            _hints.Add(new PrefixHint(match, [.. texts.Select(PrefixPhrase.Of)]));
            // A probe per row (MATCH with rowid = messages.id) sets the whole FTS5 query up again for every row, about
            // 100 µs; a rowid range lets FTS5 seek past the older entries of each doclist and read only the new ones.
            return new($"messages.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH {match})",
                $"messages.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH {match} AND rowid > {ScanFloorParameter})");
        }

        public Plans Predicate(SearchTerm term) => term switch
        {
            TextTerm text => FullText([text]),
            AddressTerm address => Address(address.Field, address.Value),
            SubjectTerm subject => Substring("{subject}", subject.Value, pattern => Like("messages.subject", pattern)),
            MessageIdTerm id => Substring("{message_id}", id.Value, pattern => Like("messages.message_id", pattern)),
            // lower() on both sides: tags keep the case they were given and match in any (ASCII) case (schema 3); the
            // IN form lets the index on lower(tag) find the few tagged messages instead of probing every message,
            // the EXISTS form probes one message's tags on the table's key.
            TagTerm tag => Tag($"lower(t.tag) = lower({Parameter(tag.Tag)})"),
            StateTerm { State: MessageState.Read } => Plans.Same("messages.is_read <> 0"),
            StateTerm { State: MessageState.Unread } => Plans.Same("messages.is_read = 0"),
            StateTerm { State: MessageState.Tagged } => Tag(null),
            HasTerm { Kind: PartKind.Attachment } => Plans.Same("messages.attachments > 0"),
            HasTerm { Kind: PartKind.Inline } => Plans.Same("messages.inline_parts > 0"),
            // received_at is ISO 8601 UTC with 7 fraction digits, so text order is time order; before and after split
            // time at the same instant, so before:X and after:X together match everything once.
            DateTerm date => Plans.Same($"messages.received_at {(date.Bound == DateBound.Before ? "<" : ">=")} {Parameter(MessageRecord.FormatTime(date.Date.ToUtc(timeZone)))}"),
            SizeTerm size => Plans.Same($"messages.size {(size.Bound == SizeBound.Larger ? ">" : "<")} {Parameter(size.Bytes)}"),
            HeaderTerm header => Header(header),
            _ => throw new InvalidOperationException($"no SQL for {term.GetType().Name}"),
        };

        private static Plans Tag(string? condition)
        {
            var and = condition is null ? string.Empty : " AND " + condition;
            var where = condition is null ? string.Empty : " WHERE " + condition;
            return new($"messages.id IN (SELECT t.message_id FROM message_tags AS t{where})",
                $"EXISTS (SELECT 1 FROM message_tags AS t WHERE t.message_id = messages.id{and})",
                $"messages.id IN (SELECT t.message_id FROM message_tags AS t WHERE t.message_id > {ScanFloorParameter}{and})");
        }

        private static string Like(string column, string pattern) => $"coalesce({column}, '') LIKE {pattern} ESCAPE '\\'";

        /// <summary>An envelope recipient (an element of the JSON array rcpt_to) contains the pattern. The LIKE over the
        /// whole array text first is a cheap filter; json_each then makes sure the match is inside one address, not
        /// across the JSON punctuation between two.</summary>
        private static string EnvelopeRecipient(string pattern, string extraCondition = "") =>
            $"(messages.rcpt_to LIKE {pattern} ESCAPE '\\' AND EXISTS (SELECT 1 FROM json_each(messages.rcpt_to) AS r WHERE r.value LIKE {pattern} ESCAPE '\\'{extraCondition}))";

        /// <summary>
        /// A recipient is blind when neither To nor Cc names it. The header columns hold MimeKit's rendering,
        /// <c>Name &lt;a@b&gt;, c@d</c>: an address appears there in angle brackets or as a whole list element.
        /// </summary>
        private const string NotNamedInToOrCc =
            " AND instr(lower(coalesce(messages.header_to, '') || ' ' || coalesce(messages.header_cc, '')), lower('<' || r.value || '>')) = 0"
            + " AND instr(lower(', ' || coalesce(messages.header_to, '') || ', ' || coalesce(messages.header_cc, '') || ', '), lower(', ' || r.value || ', ')) = 0";

        private Plans Address(AddressField field, string value) => field switch
        {
            AddressField.From => Substring("{from_text}", value, p => $"{Like("messages.header_from", p)} OR messages.mail_from LIKE {p} ESCAPE '\\'"),
            AddressField.To => Substring("{to_text}", value, p => $"{Like("messages.header_to", p)} OR {EnvelopeRecipient(p)}"),
            AddressField.Cc => Substring("{cc_text}", value, p => Like("messages.header_cc", p)),
            AddressField.Bcc => Substring("{bcc_text to_text}", value, p => $"{Like("messages.header_bcc", p)} OR {EnvelopeRecipient(p, NotNamedInToOrCc)}"),
            AddressField.ReplyTo => Substring("{reply_to_text}", value, p => Like("messages.header_reply_to", p)),
            _ => Substring("{from_text to_text cc_text bcc_text reply_to_text}", value, p => string.Join(" OR ",
                Like("messages.header_from", p), Like("messages.header_to", p), Like("messages.header_cc", p),
                Like("messages.header_bcc", p), Like("messages.header_reply_to", p),
                $"messages.mail_from LIKE {p} ESCAPE '\\'", EnvelopeRecipient(p))),
        };

        /// <summary>
        /// A substring test: <paramref name="exact"/> (LIKE, case-insensitive for ASCII as in Mailpit) decides, and for
        /// a value of three characters or more the trigram index <c>messages_fields_fts</c> first narrows the messages
        /// to those whose <paramref name="columns"/> contain it in any case. Every LIKE match is a trigram match (the
        /// trigram tokenizer folds all of Unicode, LIKE only ASCII), so the index changes the speed, never the answer;
        /// without it every search by address or subject reads every message. A trigram phrase is an exact substring.
        /// </summary>
        /// <remarks>The scan plan is the exact test alone: on one row, a LIKE on its columns is cheaper than a trigram probe.</remarks>
        private Plans Substring(string columns, string value, Func<string, string> exact)
        {
            var predicate = exact(Parameter(ContainsPattern(value)));
            var runes = value.EnumerateRunes().Select(r => r.ToString()).ToList();
            if (runes.Count < 3)
            {
                return Plans.Same(predicate);
            }

            var match = Parameter(columns + " : " + FtsString(value));
            var trigrams = Enumerable.Range(0, runes.Count - 2).Select(i => runes[i] + runes[i + 1] + runes[i + 2]).Distinct(StringComparer.Ordinal).ToList();
            if (trigrams.Count > 3)
            {
                _hints.Add(new TrigramHint(match, columns, trigrams));
            }

            return new($"messages.id IN (SELECT rowid FROM messages_fields_fts WHERE messages_fields_fts MATCH {match}) AND ({predicate})", predicate,
                $"messages.id IN (SELECT rowid FROM messages_fields_fts WHERE messages_fields_fts MATCH {match} AND rowid > {ScanFloorParameter}) AND ({predicate})");
        }

        /// <summary>
        /// <c>header:</c> looks at <c>message_headers</c>: one row per header field of the top-level message, its name
        /// in lower case and its value unfolded and decoded (RFC 5322 2.2.3, RFC 2047). Field names are ASCII and
        /// compared without regard to case (RFC 5322 1.2.2).
        /// </summary>
        private Plans Header(HeaderTerm header)
        {
            var name = Parameter(header.Name.ToLowerInvariant());
            var value = header.Value is null ? string.Empty : $" AND h.value LIKE {Parameter(ContainsPattern(header.Value))} ESCAPE '\\'";
            return new($"messages.id IN (SELECT h.message_id FROM message_headers AS h WHERE h.name = {name}{value})",
                $"EXISTS (SELECT 1 FROM message_headers AS h WHERE h.message_id = messages.id AND h.name = {name}{value})",
                $"messages.id IN (SELECT h.message_id FROM message_headers AS h WHERE h.name = {name} AND h.message_id > {ScanFloorParameter}{value})");
        }

        private string Parameter(object value)
        {
            var name = ParameterPrefix + _parameters.Count.ToString(CultureInfo.InvariantCulture);
            _parameters.Add(new(name, value));
            return name;
        }
    }
}
