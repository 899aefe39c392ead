using System.Globalization;

namespace Smtpd.Catcher.Search;

/// <summary>
/// The bounds every search query is parsed within. A query comes from the network (the HTTP API's <c>query</c>
/// parameter) and becomes SQL that runs over the whole store, so both its length and its number of terms are capped.
/// </summary>
internal sealed class SearchLimits
{
    /// <summary>The default <see cref="MaxQueryLength"/>: 1,000 characters.</summary>
    public const int DefaultMaxQueryLength = 1_000;

    /// <summary>The default <see cref="MaxTerms"/>: 32 terms.</summary>
    public const int DefaultMaxTerms = 32;

    /// <summary>The defaults, shared (the type is immutable once built).</summary>
    public static readonly SearchLimits Default = new();

    /// <summary>
    /// The longest query, in UTF-16 characters. Default 1,000: ten times the longest query a person types into a search
    /// box, well inside the 2,000-character URL that every browser and proxy carries, and small enough that the
    /// parse and the SQL it makes stay a few kilobytes. Between 1 and 100,000 (SQLite's LIKE pattern limit is 50,000
    /// octets; a longer query is no longer a search).
    /// </summary>
    public int MaxQueryLength { get; init => field = Check(value, 1, 100_000, nameof(MaxQueryLength)); } = DefaultMaxQueryLength;

    /// <summary>
    /// The most terms in one query. Default 32: each term adds one predicate (and at most one subquery) that SQLite
    /// evaluates per candidate row, so the cost of a search over 100,000 messages grows with it; Gmail-style queries
    /// in practice have fewer than 10. Between 1 and 256 (far below SQLite's 1,000-deep expression limit and its
    /// 32,766 parameters, with at most 5 parameters a term).
    /// </summary>
    public int MaxTerms { get; init => field = Check(value, 1, 256, nameof(MaxTerms)); } = DefaultMaxTerms;

    private static int Check(int value, int min, int max, string name) =>
        value >= min && value <= max
            ? value
            : throw new ArgumentOutOfRangeException(name, value, string.Create(CultureInfo.InvariantCulture, $"{name} must be between {min} and {max}"));
}
