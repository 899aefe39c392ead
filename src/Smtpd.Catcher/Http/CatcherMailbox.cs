using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Http;

/// <summary>
/// The mailbox as the HTTP API sees it: each call opens a pooled connection to the catcher's store, does its work
/// and gives the connection back. Every mutation announces itself on the catcher's <see cref="CatcherEventHub"/>
/// (<c>update</c>, <c>delete</c>, <c>truncate</c>) after its commit, so the live events never show what did not
/// happen.
/// </summary>
/// <param name="catcher">The started catcher whose store this reads.</param>
/// <param name="compiler">Compiles searches.</param>
internal sealed class CatcherMailbox(MailCatcher catcher, IMessageQueryCompiler compiler)
{
    /// <summary>Whether the catcher keeps a store (it does not with <c>--no-store</c>).</summary>
    public bool HasStore => catcher.Store is not null;

    /// <summary>The catcher.</summary>
    public MailCatcher Catcher => catcher;

    /// <summary>The event hub the mutations publish on.</summary>
    public CatcherEventHub Events => catcher.Events;

    /// <summary>Compiles a search.</summary>
    /// <param name="query">The search text.</param>
    /// <param name="timeZone">The zone of its dates.</param>
    /// <returns>The compiled query.</returns>
    /// <exception cref="MessageQueryException">The search is malformed.</exception>
    public CompiledQuery Compile(string query, TimeZoneInfo timeZone) =>
        // The default compiler writes SQLite's SQL; a PostgreSQL store compiles the same language into its own.
        (ReferenceEquals(compiler, Search.SearchQueryCompiler.Instance) && catcher.Store is { } store ? store.Compiler : compiler).Compile(query, timeZone);

    /// <summary>The messages of one named mailbox, in the store's own SQL.</summary>
    /// <param name="name">The mailbox, as configured.</param>
    /// <returns>The query.</returns>
    public CompiledQuery Scope(string name) => (catcher.Store?.Compiler ?? compiler).Mailbox(name);

    /// <summary>Runs <paramref name="work"/> on a pooled connection to the store.</summary>
    /// <typeparam name="T">The result.</typeparam>
    /// <param name="work">The work.</param>
    /// <returns>Its result.</returns>
    public T Use<T>(Func<IMessageStore, T> work)
    {
        using var store = Open();
        return work(store);
    }

    /// <summary>Opens a pooled connection; the caller disposes it (or hands it to a stream that does).</summary>
    /// <returns>The store.</returns>
    /// <exception cref="InvalidOperationException">The catcher keeps no store.</exception>
    public IMessageStore Open() => (catcher.Store ?? throw new InvalidOperationException("The catcher keeps no store.")).Open();

    /// <summary>Sets the read flag of messages and announces each change.</summary>
    /// <param name="ids">The ids, or <see langword="null"/> with <paramref name="query"/>.</param>
    /// <param name="query">A search, or <see langword="null"/> for all when <paramref name="ids"/> is null too.</param>
    /// <param name="read">The flag.</param>
    public void SetRead(IReadOnlyList<long>? ids, CompiledQuery? query, bool read)
    {
        var changed = Use(store => ids is not null ? store.SetRead(ids, read) : store.SetRead(query, read));
        foreach (var id in changed)
        {
            Events.Publish("update", new ReadUpdateEvent { ID = ApiMapper.Id(id), Read = read });
        }
    }

    /// <summary>Replaces the tags of messages and announces each change.</summary>
    /// <param name="ids">The ids.</param>
    /// <param name="tags">The tags.</param>
    public void SetTags(IReadOnlyList<long> ids, IReadOnlyList<string> tags)
    {
        var updated = Use(store => store.SetTags(ids, tags));
        PublishTags(updated);
    }

    /// <summary>Renames a tag and announces the messages whose tags changed.</summary>
    /// <param name="from">The tag.</param>
    /// <param name="to">The new name.</param>
    public void RenameTag(string from, string to) => PublishTags(Use(store => store.RenameTag(from, to)));

    /// <summary>Removes a tag from every message and announces them.</summary>
    /// <param name="tag">The tag.</param>
    public void DeleteTag(string tag) => PublishTags(Use(store => store.DeleteTag(tag)));

    /// <summary>Deletes messages and announces each.</summary>
    /// <param name="ids">The ids, or <see langword="null"/> with <paramref name="query"/>.</param>
    /// <param name="query">A search.</param>
    public void Delete(IReadOnlyList<long>? ids, CompiledQuery? query)
    {
        var deleted = Use(store => ids is not null ? store.Delete(ids) : store.Delete(query!));
        catcher.CountDeleted(deleted.Count);
        foreach (var id in deleted)
        {
            Events.Publish("delete", new DeleteEvent { ID = ApiMapper.Id(id) });
        }
    }

    /// <summary>
    /// Takes messages out of one named mailbox and announces it: a message then in no named mailbox is deleted from
    /// the store (a <c>delete</c> every view sees); one still in another mailbox stays stored, and only the
    /// mailbox's own view gets its <c>delete</c>.
    /// </summary>
    /// <param name="ids">The ids, or <see langword="null"/> for every message <paramref name="query"/> matches in the mailbox.</param>
    /// <param name="query">A search, or <see langword="null"/> for all of the mailbox's messages.</param>
    /// <param name="name">The mailbox.</param>
    public void RemoveFromMailbox(IReadOnlyList<long>? ids, CompiledQuery? query, string name)
    {
        var (removed, deleted) = Use(store => store.RemoveFromMailbox(
            ids ?? store.Ids(Mailboxes.MailboxScope.And(Scope(name), query)!), name));
        catcher.CountDeleted(deleted.Count);
        var gone = deleted.ToHashSet();
        foreach (var id in removed)
        {
            Events.Publish("delete", new DeleteEvent { ID = ApiMapper.Id(id) }, gone.Contains(id) ? null : name);
        }
    }

    /// <summary>The ids among <paramref name="ids"/> that <paramref name="scope"/> matches (all of them without a scope).</summary>
    /// <param name="ids">The ids.</param>
    /// <param name="scope">A mailbox, or <see langword="null"/>.</param>
    /// <returns>The ids in the mailbox.</returns>
    public IReadOnlyList<long> InScope(IReadOnlyList<long> ids, CompiledQuery? scope) =>
        scope is null ? ids : Use(store => ids.Where(id => store.Matches(scope, id)).ToList());

    /// <summary>Deletes every message and announces a truncation.</summary>
    public void Clear()
    {
        var count = Use(store => store.Clear());
        catcher.CountDeleted(count);
        Events.Publish("truncate", null);
    }

    private void PublishTags(IReadOnlyList<long> ids)
    {
        if (ids.Count == 0 || !Events.HasSubscribers)
        {
            return;
        }

        Use(store =>
        {
            foreach (var id in ids.Distinct())
            {
                if (store.FindWithTags(id) is { } message)
                {
                    Events.Publish("update", new TagsUpdateEvent { ID = ApiMapper.Id(id), Tags = message.Tags });
                }
            }

            return 0;
        });
    }
}
