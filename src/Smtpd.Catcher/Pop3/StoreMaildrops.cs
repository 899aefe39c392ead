using System.Collections.Concurrent;
using Smtpd.Catcher.Http;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Pop3;

/// <summary>
/// The catcher's store as POP3 maildrops: every user sees every stored message (the catcher has no mailboxes yet),
/// and a user may hold one session at a time (RFC 1939 section 4's exclusive lock, per user). Removal in the
/// UPDATE state deletes from the store and announces each deletion on the live events, as the HTTP API does.
/// </summary>
/// <param name="catcher">The started catcher.</param>
internal sealed class StoreMaildrops(MailCatcher catcher) : IPop3MaildropSource
{
    private readonly ConcurrentDictionary<string, byte> _locked = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public Pop3LockResult TryLock(string user, out IPop3Maildrop? maildrop)
    {
        maildrop = null;
        if (!_locked.TryAdd(user, 0))
        {
            return Pop3LockResult.InUse;
        }

        try
        {
            var catcherStore = catcher.Store ?? throw new InvalidOperationException("The catcher keeps no store.");
            using var store = catcherStore.Open();
            // A user named like a configured mailbox gets that mailbox as its maildrop (issue 15: one maildrop per
            // user or mailbox); any other user gets every message, as before mailboxes.
            var mailbox = catcher.Mailboxes.TryFind(user, out var name) ? name : null;
            var records = store.List(new MessageFilter(Query: mailbox is null ? null : catcherStore.Compiler.Mailbox(mailbox)));
            var messages = new Pop3Message[records.Count];
            for (var i = 0; i < records.Count; i++)
            {
                // The list is newest first; message 1 is the oldest, as in a mail spool.
                var record = records[records.Count - 1 - i];
                messages[i] = new Pop3Message(record.Id, record.Size, UniqueId(record));
            }

            maildrop = new Maildrop(this, user, mailbox, messages);
            return Pop3LockResult.Locked;
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or StoreUnavailableException or IOException or InvalidOperationException)
        {
            _locked.TryRemove(user, out _);
            return Pop3LockResult.Unavailable;
        }
    }

    /// <summary>
    /// The UIDL: the store id with the first 16 hex digits of the content's SHA-256. A store that is deleted and
    /// made again reuses ids; the hash keeps a client from taking a new message for one it has already fetched.
    /// </summary>
    private static string UniqueId(MessageRecord record) =>
        string.Concat(record.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "-", record.Sha256.AsSpan(0, Math.Min(16, record.Sha256.Length)));

    private IMessageStore Open() => (catcher.Store ?? throw new InvalidOperationException("The catcher keeps no store.")).Open();

    private sealed class Maildrop(StoreMaildrops owner, string user, string? mailbox, Pop3Message[] messages) : IPop3Maildrop
    {
        private int _disposed;

        public IReadOnlyList<Pop3Message> Messages => messages;

        public Stream? Open(Pop3Message message)
        {
            var store = owner.Open();
            try
            {
                if (store.Find(message.Id) is not { } record)
                {
                    store.Dispose();
                    return null;
                }

                // The stream owns the store's connection and reads in one transaction, chunk by chunk.
                return store.OpenOwnedContent(record);
            }
            catch
            {
                store.Dispose();
                throw;
            }
        }

        public void Remove(IReadOnlyList<Pop3Message> marked)
        {
            if (mailbox is not null)
            {
                // DELE in a mailbox's maildrop is a delete in that mailbox, as with ?mailbox= over HTTP: the message
                // leaves the mailbox, and the store only when no other mailbox holds it.
                IReadOnlyList<long> removed, gone;
                using (var store = owner.Open())
                {
                    (removed, gone) = store.RemoveFromMailbox([.. marked.Select(m => m.Id)], mailbox);
                }

                owner.Deleted(gone.Count);

                foreach (var id in removed)
                {
                    owner.Published(id, gone.Contains(id) ? null : mailbox);
                }

                return;
            }

            IReadOnlyList<long> deleted;
            using (var store = owner.Open())
            {
                deleted = store.Delete([.. marked.Select(m => m.Id)]);
            }

            owner.Deleted(deleted.Count);

            foreach (var id in deleted)
            {
                owner.Published(id, null);
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner._locked.TryRemove(user, out _);
            }
        }
    }

    private void Deleted(int messages) => catcher.CountDeleted(messages);

    private void Published(long id, string? mailbox) => catcher.Events.Publish("delete", new DeleteEvent { ID = ApiMapper.Id(id) }, mailbox);
}
