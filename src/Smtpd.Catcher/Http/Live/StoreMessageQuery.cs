using Smtpd.Catcher.Search;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Http.Live;

/// <summary>
/// The live side's <see cref="ICatcherMessageQuery"/>: the search language of <c>/api/v1/search</c>
/// (docs/search.md), compiled by the same <see cref="IMessageQueryCompiler"/> and run by the same SQL over the
/// store, so a wait and a search given the same text match the same messages. Dates without a zone are UTC (the
/// wait has no <c>tz</c>).
/// </summary>
internal sealed class StoreMessageQuery : ICatcherMessageQuery
{
    private readonly string? _storePath;
    private readonly CatcherSummaryWriter _summaries;
    private readonly IMessageQueryCompiler _compiler;

    /// <summary>Creates the query.</summary>
    /// <param name="storePath">The store, as <see cref="MailCatcher.StorePath"/> names it; <see langword="null"/> when nothing is stored (a sink), so only new messages can match.</param>
    /// <param name="summaries">Writes each listed message's summary JSON.</param>
    /// <param name="compiler">Compiles the queries; the search language when <see langword="null"/> (pass the API's registered one).</param>
    public StoreMessageQuery(string? storePath, CatcherSummaryWriter summaries, IMessageQueryCompiler? compiler = null)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        _storePath = storePath;
        _summaries = summaries;
        _compiler = compiler ?? SearchQueryCompiler.Instance;
    }

    /// <inheritdoc/>
    public string? Validate(string query)
    {
        try
        {
            _ = Compile(query);
            return null;
        }
        catch (MessageQueryException ex)
        {
            return ex.Message;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<IReadOnlyList<CatcherMessageSummary>> ListAsync(string query, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var compiled = Compile(query);
        if (_storePath is not { } path)
        {
            return [];
        }

        // Microsoft.Data.Sqlite is synchronous: off the request's thread, on a pooled connection (WAL lets it read
        // while the writer commits).
        var records = await Task.Run(() =>
        {
            using var store = MessageStore.OpenPooled(path);
            return store.List(new MessageFilter(Limit: limit, Query: compiled));
        }, cancellationToken);
        return records.Select(r =>
        {
            var id = r.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return new CatcherMessageSummary(id, r.IsRead, _summaries(id, r));
        }).ToArray();
    }

    /// <inheritdoc/>
    public async ValueTask<bool> MatchesAsync(string query, CatcherStoredMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var compiled = Compile(query);
        if (compiled is null)
        {
            return true;
        }

        if (_storePath is { } path && message.Record.Id != 0)
        {
            // The new event follows the commit, so the store has the message and its index rows.
            return await Task.Run(() =>
            {
                using var store = MessageStore.OpenPooled(path);
                return store.Matches(compiled, message.Record.Id);
            }, cancellationToken);
        }

        // A sink stores nothing: the same SQL decides, over the message alone in a scratch in-memory store.
        return ScratchStore.Matches(compiled, message.Record);
    }

    /// <inheritdoc/>
    public async ValueTask<CatcherMailboxStats> StatsAsync(CancellationToken cancellationToken)
    {
        if (_storePath is not { } path)
        {
            return new CatcherMailboxStats(0, 0, []);
        }

        var page = await Task.Run(() =>
        {
            using var store = MessageStore.OpenPooled(path);
            return store.Page(null, 0, 0);
        }, cancellationToken);
        return new CatcherMailboxStats(page.Total, page.Unread, page.Tags);
    }

    /// <summary>Compiles a query; an empty one matches every message.</summary>
    /// <exception cref="MessageQueryException">The query is malformed.</exception>
    private CompiledQuery? Compile(string query) =>
        string.IsNullOrWhiteSpace(query) ? null : _compiler.Compile(query.Trim(), TimeZoneInfo.Utc);
}
