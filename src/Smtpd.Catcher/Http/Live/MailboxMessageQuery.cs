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
    public async ValueTask<IReadOnlyList<CatcherMessageSummary>> ListAsync(string query, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        if (!mailbox.HasStore)
        {
            return [];
        }

        var compiled = Compile(query);
        // Microsoft.Data.Sqlite is synchronous: off the request's thread, on a pooled connection (WAL lets it read
        // while the writer commits).
        var page = await Task.Run(() => mailbox.Use(store => store.Page(compiled, 0, limit)), cancellationToken);
        return [.. page.Messages.Select(record => new CatcherMessageSummary(ApiMapper.Id(record.Id), record.IsRead, Summary(record)))];
    }

    /// <inheritdoc/>
    public async ValueTask<bool> MatchesAsync(string query, CatcherStoredMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Compile(query) is not { } compiled)
        {
            return true;
        }

        if (!mailbox.HasStore || message.Record.Id == 0)
        {
            return false;
        }

        // The same WHERE as the search, pinned to the new message: one indexed lookup, and no second matcher that
        // could disagree with the store's.
        var parameters = new Dictionary<string, object?>(compiled.Parameters, StringComparer.Ordinal) { [IdParameter] = message.Record.Id };
        var pinned = new CompiledQuery($"id = {IdParameter} AND ({compiled.Where})", parameters);
        var latest = await Task.Run(() => mailbox.Use(store => store.Latest(pinned)), cancellationToken);
        return latest == message.Record.Id;
    }

    /// <inheritdoc/>
    public async ValueTask<CatcherMailboxStats> StatsAsync(CancellationToken cancellationToken)
    {
        if (!mailbox.HasStore)
        {
            return new CatcherMailboxStats(0, 0, []);
        }

        var page = await Task.Run(() => mailbox.Use(store => store.Page(Scope, 0, 0)), cancellationToken);
        return scope is null ? new CatcherMailboxStats(page.Total, page.Unread, page.Tags) : new CatcherMailboxStats(page.Matched, page.MatchedUnread, page.Tags);
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
