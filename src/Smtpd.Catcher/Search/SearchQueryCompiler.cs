using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Search;

/// <summary>
/// The store's <see cref="IMessageQueryCompiler"/>: Mailpit's search language (<see cref="SearchQuery"/>) compiled
/// by <see cref="SqliteSearchCompiler"/>. The HTTP API, the live wait and <c>smtpd list --query</c> all compile
/// through it, so one query matches the same messages everywhere (docs/search.md).
/// </summary>
internal sealed class SearchQueryCompiler : IMessageQueryCompiler
{
    /// <summary>The one instance; the compiler keeps no state.</summary>
    public static readonly SearchQueryCompiler Instance = new();

    /// <inheritdoc/>
    public CompiledQuery Compile(string query, TimeZoneInfo timeZone)
    {
        CompiledSearch search;
        try
        {
            search = SqliteSearchCompiler.Compile(query, timeZone);
        }
        catch (SearchSyntaxException ex)
        {
            // Already one line: "bad search query: <reason> at offset <n>".
            throw new MessageQueryException(ex.Message);
        }

        var parameters = new Dictionary<string, object?>(search.Parameters.Count, StringComparer.Ordinal);
        foreach (var (name, value) in search.Parameters)
        {
            parameters[name] = value;
        }

        return new CompiledQuery(search.Where, parameters)
        {
            ScanWhere = search.ScanWhere,
            MatchHints = search.MatchHints,
            RangeWhere = search.RangeWhere,
        };
    }

    /// <inheritdoc/>
    public CompiledQuery Mailbox(string name) => Mailboxes.MailboxScope.Sqlite(name);
}
