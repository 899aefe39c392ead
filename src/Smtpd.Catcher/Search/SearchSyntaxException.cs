using System.Globalization;

namespace Smtpd.Catcher.Search;

/// <summary>Why a search query was refused; every refusal has a name, so tests and the API can tell them apart.</summary>
internal enum SearchSyntaxError
{
    /// <summary>The query is longer than <see cref="SearchLimits.MaxQueryLength"/>.</summary>
    QueryTooLong,

    /// <summary>The query has more terms than <see cref="SearchLimits.MaxTerms"/>.</summary>
    TooManyTerms,

    /// <summary>A control character other than white space: no query typed or put in a URL means one.</summary>
    ControlCharacter,

    /// <summary>A double quote that is never closed.</summary>
    UnterminatedQuote,

    /// <summary>A known <c>word:</c> prefix with nothing after it.</summary>
    EmptyValue,

    /// <summary>An <c>is:</c> value other than <c>read</c>, <c>unread</c> or <c>tagged</c>.</summary>
    UnknownIsValue,

    /// <summary>A <c>has:</c> value other than <c>attachment(s)</c> or <c>inline(s)</c>.</summary>
    UnknownHasValue,

    /// <summary>A <c>before:</c> or <c>after:</c> value that is not one of the accepted date formats.</summary>
    BadDate,

    /// <summary>A <c>larger:</c> or <c>smaller:</c> value that is not a size.</summary>
    BadSize,

    /// <summary>A <c>header:</c> value whose name is empty or not an RFC 5322 field name.</summary>
    BadHeaderName,
}

/// <summary>
/// A search query that cannot be parsed. <see cref="Exception.Message"/> is one line naming the reason and the offset,
/// fit to answer as an HTTP 400 body or to print after <c>smtpd:</c>.
/// </summary>
internal sealed class SearchSyntaxException : Exception
{
    private SearchSyntaxException(SearchSyntaxError error, int position, string reason)
        : base(string.Create(CultureInfo.InvariantCulture, $"bad search query: {OneLine(reason)} at offset {position}"))
    {
        Error = error;
        Position = position;
        Reason = OneLine(reason);
    }

    /// <summary>
    /// The reason quotes the bad value, which may hold a quoted line break (found by the fuzzer): control characters
    /// become <c>\uXXXX</c>, so the message stays one line in an HTTP body, a log or a terminal.
    /// </summary>
    private static string OneLine(string reason) =>
        reason.Any(char.IsControl)
            ? string.Concat(reason.Select(c => char.IsControl(c) ? string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}") : c.ToString()))
            : reason;

    /// <summary>The kind of error.</summary>
    public SearchSyntaxError Error { get; }

    /// <summary>The zero-based offset in the query of the character or term at fault.</summary>
    public int Position { get; }

    /// <summary>The reason, without the offset.</summary>
    public string Reason { get; }

    /// <summary>Throws the exception (kept out of line so the parser's loop stays small).</summary>
    /// <param name="error">The kind of error.</param>
    /// <param name="position">The zero-based offset.</param>
    /// <param name="reason">The one-line reason.</param>
    /// <exception cref="SearchSyntaxException">Always.</exception>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Throw(SearchSyntaxError error, int position, string reason) => throw new SearchSyntaxException(error, position, reason);
}
