using System.Globalization;
using System.Text;

namespace Smtpd.Catcher.Search;

/// <summary>
/// A parsed search query in Mailpit's syntax (docs/search.md): white-space separated terms, all of which a message
/// must match. Parsing is pure (no I/O, no clock, no time zone), so the HTTP API, <c>smtpd list --query</c> and the
/// fuzzer share it; <see cref="SqliteSearchCompiler"/> turns the result into SQL.
/// </summary>
internal sealed class SearchQuery
{
    /// <summary>The query that matches every message: the empty string, as in Mailpit.</summary>
    public static readonly SearchQuery Everything = new(string.Empty, []);

    private SearchQuery(string text, IReadOnlyList<SearchTerm> terms)
    {
        Text = text;
        Terms = terms;
    }

    /// <summary>The query as given.</summary>
    public string Text { get; }

    /// <summary>The terms, in the order written; empty for a query of only white space.</summary>
    public IReadOnlyList<SearchTerm> Terms { get; }

    /// <summary>Parses a query.</summary>
    /// <param name="text">The query.</param>
    /// <param name="limits">The bounds; <see cref="SearchLimits.Default"/> when <see langword="null"/>.</param>
    /// <returns>The parsed query.</returns>
    /// <exception cref="SearchSyntaxException">The query breaks the syntax or a limit; the message says where.</exception>
    public static SearchQuery Parse(string text, SearchLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new SearchQuery(text, SearchQueryParser.Parse(text, limits ?? SearchLimits.Default));
    }

    /// <inheritdoc/>
    public override string ToString() => Text;
}

/// <summary>The states of <see cref="SearchQueryParser"/>'s tokenizer.</summary>
internal enum SearchTokenizerState
{
    /// <summary>Skipping white space; the next other character starts a term.</summary>
    BetweenTerms,

    /// <summary>After a leading <c>-</c> or <c>!</c>: the next character starts the negated term.</summary>
    AfterNegation,

    /// <summary>Unquoted characters of a term: white space ends it, a double quote opens a quoted run, and the first
    /// <c>:</c> ends a known prefix.</summary>
    Word,

    /// <summary>Between double quotes: white space and <c>:</c> are part of the value; only a double quote ends it.</summary>
    Quoted,
}

/// <summary>The <c>word:</c> prefixes the syntax knows. Any other <c>word:</c> is free text, as in Mailpit.</summary>
internal enum SearchPrefix
{
    /// <summary>No prefix: free text.</summary>
    None,

    /// <summary><c>from:</c>.</summary>
    From,

    /// <summary><c>to:</c>.</summary>
    To,

    /// <summary><c>cc:</c>.</summary>
    Cc,

    /// <summary><c>bcc:</c>.</summary>
    Bcc,

    /// <summary><c>reply-to:</c>.</summary>
    ReplyTo,

    /// <summary><c>addressed:</c>.</summary>
    Addressed,

    /// <summary><c>subject:</c>.</summary>
    Subject,

    /// <summary><c>message-id:</c>.</summary>
    MessageId,

    /// <summary><c>tag:</c>.</summary>
    Tag,

    /// <summary><c>is:</c>.</summary>
    Is,

    /// <summary><c>has:</c>.</summary>
    Has,

    /// <summary><c>before:</c>.</summary>
    Before,

    /// <summary><c>after:</c>.</summary>
    After,

    /// <summary><c>larger:</c>.</summary>
    Larger,

    /// <summary><c>smaller:</c>.</summary>
    Smaller,

    /// <summary><c>header:</c> (smtpd's own).</summary>
    Header,
}

/// <summary>
/// The tokenizer and term builder behind <see cref="SearchQuery.Parse"/>. One pass over the characters with an explicit
/// <see cref="SearchTokenizerState"/>; each finished term is turned into its <see cref="SearchTerm"/> at once, so an
/// error is reported at the first term that has one.
/// </summary>
internal static class SearchQueryParser
{
    private static readonly Dictionary<string, SearchPrefix> Prefixes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["from"] = SearchPrefix.From,
        ["to"] = SearchPrefix.To,
        ["cc"] = SearchPrefix.Cc,
        ["bcc"] = SearchPrefix.Bcc,
        ["reply-to"] = SearchPrefix.ReplyTo,
        ["addressed"] = SearchPrefix.Addressed,
        ["subject"] = SearchPrefix.Subject,
        ["message-id"] = SearchPrefix.MessageId,
        ["tag"] = SearchPrefix.Tag,
        ["is"] = SearchPrefix.Is,
        ["has"] = SearchPrefix.Has,
        ["before"] = SearchPrefix.Before,
        ["after"] = SearchPrefix.After,
        ["larger"] = SearchPrefix.Larger,
        ["smaller"] = SearchPrefix.Smaller,
        ["header"] = SearchPrefix.Header,
    };

    /// <summary>Parses <paramref name="query"/> into its terms.</summary>
    /// <param name="query">The query.</param>
    /// <param name="limits">The bounds.</param>
    /// <returns>The terms.</returns>
    /// <exception cref="SearchSyntaxException">The query breaks the syntax or a limit.</exception>
    public static IReadOnlyList<SearchTerm> Parse(string query, SearchLimits limits)
    {
        if (query.Length > limits.MaxQueryLength)
        {
            SearchSyntaxException.Throw(SearchSyntaxError.QueryTooLong, limits.MaxQueryLength,
                string.Create(CultureInfo.InvariantCulture, $"the query is {query.Length} characters long; at most {limits.MaxQueryLength} are allowed"));
        }

        var terms = new List<SearchTerm>();
        var value = new StringBuilder();
        var state = SearchTokenizerState.BetweenTerms;
        var term = default(PendingTerm);
        for (var i = 0; i < query.Length; i++)
        {
            var c = query[i];
            if (char.IsControl(c) && !char.IsWhiteSpace(c))
            {
                SearchSyntaxException.Throw(SearchSyntaxError.ControlCharacter, i,
                    string.Create(CultureInfo.InvariantCulture, $"control character U+{(int)c:X4}"));
            }

            switch (state)
            {
                case SearchTokenizerState.BetweenTerms:
                    if (char.IsWhiteSpace(c))
                    {
                        break;
                    }

                    term = new PendingTerm(i);
                    value.Clear();
                    // Mailpit: a '-' or '!' negates only when something follows it; alone it is a word.
                    if (c is '-' or '!' && i + 1 < query.Length && !char.IsWhiteSpace(query[i + 1]))
                    {
                        term.Negated = true;
                        state = SearchTokenizerState.AfterNegation;
                        break;
                    }

                    state = StartTerm(ref term, c, i, value);
                    break;
                case SearchTokenizerState.AfterNegation:
                    state = StartTerm(ref term, c, i, value);
                    break;
                case SearchTokenizerState.Word:
                    if (char.IsWhiteSpace(c))
                    {
                        AddTerm(terms, term, value, limits);
                        state = SearchTokenizerState.BetweenTerms;
                    }
                    else if (c == '"')
                    {
                        term.QuotePosition = i;
                        term.PrefixPossible = false;
                        state = SearchTokenizerState.Quoted;
                    }
                    else if (c == ':' && term.PrefixPossible)
                    {
                        // Only the first colon can end a prefix: "foo:from:x" is free text, "header:X-A=b:c" keeps its colon.
                        term.PrefixPossible = false;
                        if (Prefixes.TryGetValue(value.ToString(), out var prefix))
                        {
                            term.Prefix = prefix;
                            term.ValuePosition = i + 1;
                            value.Clear();
                        }
                        else
                        {
                            value.Append(c);
                        }
                    }
                    else
                    {
                        value.Append(c);
                    }

                    break;
                case SearchTokenizerState.Quoted:
                    if (c == '"')
                    {
                        // The quote closes; what follows up to white space still belongs to the term (Mailpit joins it).
                        state = SearchTokenizerState.Word;
                    }
                    else
                    {
                        value.Append(c);
                    }

                    break;
                default:
                    throw new InvalidOperationException($"unknown tokenizer state {state}");
            }
        }

        switch (state)
        {
            case SearchTokenizerState.Quoted:
                SearchSyntaxException.Throw(SearchSyntaxError.UnterminatedQuote, term.QuotePosition, "unterminated quote");
                break;
            case SearchTokenizerState.Word:
                AddTerm(terms, term, value, limits);
                break;
            default:
                break;
        }

        return terms;
    }

    /// <summary>The first character of a term (after any negation): a double quote makes it a phrase.</summary>
    private static SearchTokenizerState StartTerm(ref PendingTerm term, char c, int position, StringBuilder value)
    {
        term.ValuePosition = position;
        if (c == '"')
        {
            // A term that begins with a quote is a phrase: "from:x" is searched as text, never as a prefix.
            term.Quoted = true;
            term.PrefixPossible = false;
            term.QuotePosition = position;
            return SearchTokenizerState.Quoted;
        }

        value.Append(c);
        return SearchTokenizerState.Word;
    }

    private static void AddTerm(List<SearchTerm> terms, PendingTerm pending, StringBuilder value, SearchLimits limits)
    {
        var built = Build(pending, value.ToString());
        if (built is null)
        {
            return;
        }

        if (terms.Count == limits.MaxTerms)
        {
            SearchSyntaxException.Throw(SearchSyntaxError.TooManyTerms, pending.Position,
                string.Create(CultureInfo.InvariantCulture, $"more than {limits.MaxTerms} terms"));
        }

        terms.Add(built);
    }

    /// <summary>Turns a finished term into its <see cref="SearchTerm"/>; <see langword="null"/> for an empty phrase, which Mailpit ignores.</summary>
    private static SearchTerm? Build(PendingTerm t, string value)
    {
        if (t.Prefix == SearchPrefix.None)
        {
            return value.Length == 0 ? null : new TextTerm(t.Position, t.Negated, value, t.Quoted);
        }

        if (value.Trim().Length == 0)
        {
            SearchSyntaxException.Throw(SearchSyntaxError.EmptyValue, t.ValuePosition, $"{PrefixName(t.Prefix)} needs a value");
        }

        switch (t.Prefix)
        {
            case SearchPrefix.From:
            case SearchPrefix.To:
            case SearchPrefix.Cc:
            case SearchPrefix.Bcc:
            case SearchPrefix.ReplyTo:
            case SearchPrefix.Addressed:
                return new AddressTerm(t.Position, t.Negated, AddressFieldOf(t.Prefix), Unbracket(value, t));
            case SearchPrefix.Subject:
                return new SubjectTerm(t.Position, t.Negated, value);
            case SearchPrefix.MessageId:
                return new MessageIdTerm(t.Position, t.Negated, Unbracket(value, t));
            case SearchPrefix.Tag:
                return new TagTerm(t.Position, t.Negated, value.Trim());
            case SearchPrefix.Is:
                return new StateTerm(t.Position, t.Negated, value.Trim().ToLowerInvariant() switch
                {
                    "read" => MessageState.Read,
                    "unread" => MessageState.Unread,
                    "tagged" => MessageState.Tagged,
                    _ => Fail<MessageState>(SearchSyntaxError.UnknownIsValue, t.ValuePosition, $"unknown is: value '{value}' (expected read, unread or tagged)"),
                });
            case SearchPrefix.Has:
                return new HasTerm(t.Position, t.Negated, value.Trim().ToLowerInvariant() switch
                {
                    "attachment" or "attachments" => PartKind.Attachment,
                    "inline" or "inlines" => PartKind.Inline,
                    _ => Fail<PartKind>(SearchSyntaxError.UnknownHasValue, t.ValuePosition, $"unknown has: value '{value}' (expected attachment or inline)"),
                });
            case SearchPrefix.Before:
            case SearchPrefix.After:
                if (!SearchDate.TryParse(value, out var date))
                {
                    SearchSyntaxException.Throw(SearchSyntaxError.BadDate, t.ValuePosition, $"bad date '{value}' (expected {SearchDate.Expected})");
                }

                return new DateTerm(t.Position, t.Negated, t.Prefix == SearchPrefix.Before ? DateBound.Before : DateBound.After, date);
            case SearchPrefix.Larger:
            case SearchPrefix.Smaller:
                return new SizeTerm(t.Position, t.Negated, t.Prefix == SearchPrefix.Larger ? SizeBound.Larger : SizeBound.Smaller, ParseSize(value, t.ValuePosition));
            case SearchPrefix.Header:
                return ParseHeader(t, value);
            default:
                throw new InvalidOperationException($"unknown prefix {t.Prefix}");
        }
    }

    private static AddressField AddressFieldOf(SearchPrefix prefix) => prefix switch
    {
        SearchPrefix.From => AddressField.From,
        SearchPrefix.To => AddressField.To,
        SearchPrefix.Cc => AddressField.Cc,
        SearchPrefix.Bcc => AddressField.Bcc,
        SearchPrefix.ReplyTo => AddressField.ReplyTo,
        _ => AddressField.Addressed,
    };

    /// <summary>
    /// <c>&lt;a@b&gt;</c> searches for <c>a@b</c>: the envelope and a bare address carry no brackets, and Message-IDs are
    /// stored without them (Mailpit strips them from these values too).
    /// </summary>
    private static string Unbracket(string value, PendingTerm t)
    {
        var trimmed = value.Trim().TrimStart('<').TrimEnd('>').Trim();
        if (trimmed.Length == 0)
        {
            SearchSyntaxException.Throw(SearchSyntaxError.EmptyValue, t.ValuePosition, $"{PrefixName(t.Prefix)} needs a value");
        }

        return trimmed;
    }

    /// <summary>
    /// A size: digits, an optional fraction, an optional space and an optional unit B, K/KB, M/MB or G/GB in any letter
    /// case, in binary multiples (1K = 1,024 octets) as Mailpit (which knows K and M) and as smtpd's --max-size read them.
    /// At most 19 characters of number: enough for any size, and the product stays inside <see cref="decimal"/>.
    /// </summary>
    private static long ParseSize(string value, int position)
    {
        var text = value.Trim();
        var i = 0;
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        var integerDigits = i;
        if (i < text.Length && text[i] == '.')
        {
            i++;
            var fractionStart = i;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }

            if (i == fractionStart)
            {
                integerDigits = 0;
            }
        }

        var number = text[..i];
        var unit = text[i..].TrimStart(' ').ToLowerInvariant();
        long multiplier = unit switch
        {
            "" or "b" => 1,
            "k" or "kb" => 1L << 10,
            "m" or "mb" => 1L << 20,
            "g" or "gb" => 1L << 30,
            _ => 0,
        };
        if (integerDigits == 0 || multiplier == 0 || number.Length > 19 || text[i..].Length - unit.Length > 1)
        {
            SearchSyntaxException.Throw(SearchSyntaxError.BadSize, position, $"bad size '{value}' (expected a number and an optional unit B, K, KB, M, MB, G or GB)");
        }

        var bytes = decimal.Parse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture) * multiplier;
        if (bytes > long.MaxValue)
        {
            SearchSyntaxException.Throw(SearchSyntaxError.BadSize, position, $"size '{value}' is too large");
        }

        return (long)decimal.Truncate(bytes);
    }

    /// <summary><c>Name=value</c> or <c>Name</c>; the name is an RFC 5322 3.6.8 field name (printable ASCII but ':').</summary>
    private static HeaderTerm ParseHeader(PendingTerm t, string value)
    {
        var equals = value.IndexOf('=', StringComparison.Ordinal);
        var name = (equals < 0 ? value : value[..equals]).Trim();
        if (name.Length == 0 || name.Length > 998 || !name.All(c => c is >= '!' and <= '~' and not ':'))
        {
            SearchSyntaxException.Throw(SearchSyntaxError.BadHeaderName, t.ValuePosition, $"bad header name '{name}' (expected header:Name=value or header:Name)");
        }

        return new HeaderTerm(t.Position, t.Negated, name, equals < 0 ? null : value[(equals + 1)..]);
    }

    private static string PrefixName(SearchPrefix prefix) => Prefixes.First(p => p.Value == prefix).Key + ":";

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static T Fail<T>(SearchSyntaxError error, int position, string reason)
    {
        SearchSyntaxException.Throw(error, position, reason);
        return default;
    }

    /// <summary>What the tokenizer knows of the term it is reading.</summary>
    private struct PendingTerm(int position)
    {
        /// <summary>The offset of the term's first character (its '-' or '!').</summary>
        public readonly int Position = position;

        /// <summary>The offset where the value starts: after the prefix's colon, else the term's first character.</summary>
        public int ValuePosition = position;

        /// <summary>The offset of the last opening double quote.</summary>
        public int QuotePosition = -1;

        public bool Negated;

        /// <summary>The term began with a double quote.</summary>
        public bool Quoted;

        /// <summary>No colon or quote yet: a colon may still end a prefix.</summary>
        public bool PrefixPossible = true;

        public SearchPrefix Prefix;
    }
}
