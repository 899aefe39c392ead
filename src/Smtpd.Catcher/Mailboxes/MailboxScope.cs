using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Mailboxes;

/// <summary>
/// One named mailbox as a <see cref="CompiledQuery"/> (each store's compiler makes it, <see cref="IMessageQueryCompiler.Mailbox"/>;
/// this is SQLite's and the combining both share): the store's list, search, count, latest, read-status and
/// delete queries all take a compiled query, so <c>?mailbox=NAME</c> is that query ANDed with the request's search,
/// and no store method needs a second filter. The membership is the <c>message_mailboxes</c> table (schema v5).
/// A correlated <c>EXISTS</c> on its <c>(message_id, name)</c> key, not <c>id IN (SELECT …)</c>: the list walks
/// <c>messages</c> newest first and stops after a page, where <c>IN</c> first builds the whole mailbox's id set. At
/// 100,000 messages with half in the mailbox, a 50-message page took 1.9 ms instead of 60 ms (docs/cli.md "Mailboxes").
/// </summary>
internal static class MailboxScope
{
    /// <summary>The parameter that names the mailbox; the search compilers' parameters never start with <c>$mailbox_</c>.</summary>
    public const string Parameter = "$mailbox_scope";

    /// <summary>The messages of one mailbox in SQLite's SQL (<see cref="Search.SearchQueryCompiler.Mailbox"/>).</summary>
    /// <param name="name">The mailbox, as configured.</param>
    /// <returns>The query.</returns>
    public static CompiledQuery Sqlite(string name) =>
        new($"EXISTS (SELECT 1 FROM message_mailboxes WHERE message_mailboxes.message_id = messages.id AND message_mailboxes.name = {Parameter})", new Dictionary<string, object?>(StringComparer.Ordinal) { [Parameter] = name });

    /// <summary>Both queries at once; either may be <see langword="null"/> (every message).</summary>
    /// <param name="scope">The mailbox, or <see langword="null"/>.</param>
    /// <param name="query">The search, or <see langword="null"/>.</param>
    /// <returns>The combined query, or <see langword="null"/> when both are.</returns>
    public static CompiledQuery? And(CompiledQuery? scope, CompiledQuery? query)
    {
        if (scope is null || query is null)
        {
            return scope ?? query;
        }

        var parameters = new Dictionary<string, object?>(query.Parameters, StringComparer.Ordinal);
        foreach (var (name, value) in scope.Parameters)
        {
            parameters[name] = value;
        }

        // The scan plan (MessageStore.PageRows) tests the newest rows one by one; the mailbox test is a key lookup,
        // so a mailbox-scoped search keeps that plan when the search has one.
        return new CompiledQuery($"({scope.Where}) AND ({query.Where})", parameters)
        {
            ScanWhere = query.ScanWhere is null ? null : $"({scope.Where}) AND ({query.ScanWhere})",
            // The rewrites keep the search's meaning, and the mailbox test is a lookup per row, so no wide walk.
            MatchHints = query.MatchHints,
        };
    }
}
