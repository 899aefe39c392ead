namespace Smtpd.Catcher.Storage;

/// <summary>
/// A search compiled to SQL: a boolean expression over the columns of the <c>messages</c> table and its index tables
/// (schema v4, see docs/search.md), and the values of the parameters it names. The store puts it in
/// <c>SELECT … FROM messages WHERE (<see cref="Where"/>) ORDER BY id DESC</c>, and in the same form for counts,
/// read-status updates and deletes, so one compiled query serves every use of a search.
/// </summary>
/// <param name="Where">The expression; parameter names start with <c>$</c> and must not clash with the store's own (<c>$start</c>, <c>$limit</c>, <c>$id</c>).</param>
/// <param name="Parameters">The parameter values by name, <c>$</c> included.</param>
internal sealed record CompiledQuery(string Where, IReadOnlyDictionary<string, object?> Parameters)
{
    /// <summary>
    /// The same test for one row at a time, with the same parameters, or <see langword="null"/> when the compiler has
    /// none: it matches exactly what <see cref="Where"/> matches but costs only the rows it is evaluated on, so the
    /// store uses it for the newest rows of a page and for the rows added since a count (MessageStore.Page). It may name
    /// <c>$scan_floor</c>, which the store binds to an id, and it must only be evaluated on rows with a larger id.
    /// </summary>
    public string? ScanWhere { get; init; }

    /// <summary>
    /// The MATCH parameters the SQLite store may rewrite in its reading transaction before it runs the search
    /// (Search.SqliteMatchRefiner); empty when there are none. The rewritten search matches the same messages.
    /// </summary>
    public IReadOnlyList<Search.MatchHint> MatchHints { get; init; } = [];

    /// <summary>
    /// The same test for a walk over many of the newest ids, or <see langword="null"/>: every index lookup in it is
    /// limited to the ids above <c>$scan_floor</c>, so it costs what the index entries in that range cost
    /// (MessageStore.PageRows). It must only be evaluated on rows with a larger id.
    /// </summary>
    public string? RangeWhere { get; init; }
}

/// <summary>
/// Turns a search (Mailpit's syntax, issue 13) into a <see cref="CompiledQuery"/>. The HTTP API resolves this from
/// the service provider for <c>/api/v1/search</c>, <c>latest?query=</c> and <c>PUT /api/v1/messages</c> with a
/// <c>Search</c>, and <c>smtpd list --query</c> compiles with it too; <see cref="Search.SearchQueryCompiler"/> is
/// registered unless something else is.
/// </summary>
internal interface IMessageQueryCompiler
{
    /// <summary>Compiles a search.</summary>
    /// <param name="query">The search text, not empty.</param>
    /// <param name="timeZone">The zone that <c>before:</c> and <c>after:</c> dates are in (the request's <c>tz</c>, else UTC).</param>
    /// <returns>The compiled query.</returns>
    /// <exception cref="MessageQueryException">The search is malformed; the API answers 400 with the message.</exception>
    CompiledQuery Compile(string query, TimeZoneInfo timeZone);

    /// <summary>
    /// The messages of one named mailbox, in this compiler's SQL dialect (the membership table is the store's, so
    /// the fragment is too): <c>?mailbox=NAME</c> is this ANDed with the request's search
    /// (<see cref="Mailboxes.MailboxScope.And"/>).
    /// </summary>
    /// <param name="name">The mailbox, as configured.</param>
    /// <returns>The query.</returns>
    CompiledQuery Mailbox(string name);
}

/// <summary>A search that cannot be compiled; its message is one line a user can act on.</summary>
internal sealed class MessageQueryException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong.</param>
    public MessageQueryException(string message)
        : base(message)
    {
    }
}
