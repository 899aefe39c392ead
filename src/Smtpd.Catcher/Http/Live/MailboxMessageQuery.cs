using System.Text.Json;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Http.Live;

/// <summary>
/// The live side's search: the registered <see cref="IMessageQueryCompiler"/> run against the catcher's store
/// through <see cref="CatcherMailbox"/>, exactly as <c>/api/v1/search</c> runs it, so a wait and a search given the
/// same text always agree.
/// </summary>
/// <param name="mailbox">The mailbox (its compiler and store).</param>
/// <param name="scope">A named mailbox every query is limited to, or <see langword="null"/> for every message.</param>
internal sealed class MailboxMessageQuery(CatcherMailbox mailbox, string? scope = null) : ICatcherMessageQuery
{
    /// <inheritdoc/>
    public string? Mailbox => scope;

    /// <inheritdoc/>
    public ICatcherMessageQuery? InMailbox(string name) =>
        mailbox.Catcher.Mailboxes.TryFind(name, out var canonical) ? new MailboxMessageQuery(mailbox, canonical) : null;

    /// <summary>The parameter that pins a match to one message; the compilers' parameters never start with <c>$live_</c>.</summary>
    private const string IdParameter = "$live_id";

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
    public ValueTask<IReadOnlyList<CatcherMessageSummary>> ListAsync(string query, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        cancellationToken.ThrowIfCancellationRequested();
        if (!mailbox.HasStore)
        {
            return ValueTask.FromResult<IReadOnlyList<CatcherMessageSummary>>([]);
        }

        var compiled = Compile(query);
        // Microsoft.Data.Sqlite is synchronous, and every call here runs on the caller's thread-pool thread, as the
        // REST routes' store calls do (on a pooled connection; WAL lets it read while the writer commits). A
        // Task.Run hop blocked another pool thread just the same and added a scheduling delay to each of the wait's
        // three store calls, which under load was most of the wait's p99 after the 250 (docs/performance.md
        // "Catcher API: wait latency").
        var page = mailbox.Use(store => store.Page(compiled, 0, limit));
        return ValueTask.FromResult<IReadOnlyList<CatcherMessageSummary>>([.. page.Messages.Select(record => new CatcherMessageSummary(ApiMapper.Id(record.Id), record.IsRead, Summary(record)))]);
    }

    /// <inheritdoc/>
    public ValueTask<bool> MatchesAsync(string query, CatcherStoredMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();
        if (Compile(query) is not { } compiled)
        {
            return ValueTask.FromResult(true);
        }

        if (!mailbox.HasStore || message.Record.Id == 0)
        {
            return ValueTask.FromResult(false);
        }

        // The search's own test, pinned to the new message, so no second matcher can disagree with the store's. The
        // row-at-a-time form (ScanWhere, docs/search.md "Two plans, one meaning") tests this one row; the index form
        // asked the trigram and full-text indexes for every match in the store before keeping this id, a cost that
        // grew with the store and that every wait paid on every new message (docs/performance.md "Catcher API: wait
        // latency"). The scan form is evaluated only above its floor, so the floor is the id just below.
        var parameters = new Dictionary<string, object?>(compiled.Parameters, StringComparer.Ordinal)
        {
            [IdParameter] = message.Record.Id,
            [Search.SqliteSearchCompiler.ScanFloorParameter] = message.Record.Id - 1,
        };
        var pinned = new CompiledQuery($"id = {IdParameter} AND ({compiled.ScanWhere ?? compiled.Where})", parameters);
        // On the caller's thread, as ListAsync says why.
        var latest = mailbox.Use(store => store.Latest(pinned));
        return ValueTask.FromResult(latest == message.Record.Id);
    }

    /// <inheritdoc/>
    public ValueTask<CatcherMailboxStats> StatsAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!mailbox.HasStore)
        {
            return ValueTask.FromResult(new CatcherMailboxStats(0, 0, []));
        }

        // On the caller's thread, as ListAsync says why.
        var page = mailbox.Use(store => store.Page(Scope, 0, 0));
        return ValueTask.FromResult(scope is null ? new CatcherMailboxStats(page.Total, page.Unread, page.Tags) : new CatcherMailboxStats(page.Matched, page.MatchedUnread, page.Tags));
    }

    /// <summary>The summary JSON of a stored message: the object the list route returns for it.</summary>
    /// <param name="record">The record.</param>
    /// <returns>UTF-8 JSON.</returns>
    public static ReadOnlyMemory<byte> Summary(MessageRecord record) =>
        JsonSerializer.SerializeToUtf8Bytes(ApiMapper.Summary(record), ApiJsonContext.Default.ApiMessageSummary);

    private CompiledQuery? Scope => scope is null ? null : mailbox.Scope(scope);

    /// <summary>
    /// Compiles a query in UTC (a wait has no <c>tz</c> parameter), limited to the mailbox if there is one, or
    /// <see langword="null"/> for an empty one without a mailbox, which matches every message.
    /// </summary>
    private CompiledQuery? Compile(string query) =>
        Mailboxes.MailboxScope.And(Scope, string.IsNullOrWhiteSpace(query) ? null : mailbox.Compile(query.Trim(), TimeZoneInfo.Utc));
}
