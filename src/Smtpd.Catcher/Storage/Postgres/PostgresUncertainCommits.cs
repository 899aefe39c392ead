using System.Security.Cryptography;
using System.Text;

namespace Smtpd.Catcher.Storage.Postgres;

/// <summary>
/// Messages whose group's COMMIT was sent but whose outcome the writer could not learn before the sessions had to
/// answer: each was answered <c>451</c>, yet PostgreSQL may have committed it. Keyed by a hash of the envelope and
/// the content, so that when the client retries the identical transaction (RFC 5321 section 4.5.4.1: a 4yz reply
/// means "try again later") the writer first asks PostgreSQL what became of the first attempt, and acknowledges the
/// retry with the first copy's id instead of storing a second one.
/// </summary>
/// <remarks>
/// Bounded in entries and in time: a retry that comes after <see cref="Lifetime"/>, or after
/// <see cref="Capacity"/> newer uncertain messages, is stored as a new message (the at-least-once fallback of any
/// SMTP server). Only the writer loop uses it, so it needs no lock.
/// </remarks>
internal sealed class PostgresUncertainCommits
{
    /// <summary>The most messages remembered; the oldest is forgotten first.</summary>
    internal const int Capacity = 10_000;

    /// <summary>
    /// How long a message is remembered: longer than the retry schedules of common MTAs (Postfix retries after 5
    /// minutes and backs off to about 70, Exim's default retry rule every 15 minutes for the first 2 hours), and
    /// well inside the transaction-status history <c>txid_status</c> reads.
    /// </summary>
    internal static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    /// <summary>
    /// Each key's remembered attempts, oldest first: two identical messages in one group share a key and are two
    /// attempts, each retried (and settled) on its own.
    /// </summary>
    private readonly Dictionary<string, List<Entry>> _entries = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, Entry Entry)> _order = new();
    private readonly TimeProvider _time;
    private int _count;

    /// <summary>Creates an empty map.</summary>
    /// <param name="time">The clock that expires entries.</param>
    public PostgresUncertainCommits(TimeProvider time) => _time = time;

    /// <summary>How many messages are remembered (expired ones included until the next call that trims).</summary>
    public int Count => _count;

    /// <summary>
    /// The identity of a transaction as a client repeats it: the reverse path, the forward paths in ordinal order (a
    /// retrying MTA may list them in another order), and the content's SHA-256 and size. The session's own fields
    /// (client port, time, TLS) differ between attempts and are left out.
    /// </summary>
    /// <param name="record">The message.</param>
    /// <returns>A hex SHA-256.</returns>
    public static string KeyOf(MessageRecord record)
    {
        var text = new StringBuilder(record.MailFrom.Length + 96);
        text.Append(record.MailFrom).Append('\n');
        foreach (var recipient in record.Recipients.Order(StringComparer.Ordinal))
        {
            text.Append(recipient).Append('\n');
        }

        text.Append(record.Sha256).Append('\n').Append(record.Size);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>Remembers a message answered 451 although its transaction may have committed.</summary>
    /// <param name="key">Its <see cref="KeyOf"/>.</param>
    /// <param name="id">The id it was inserted with.</param>
    /// <param name="transaction">The PostgreSQL transaction id (<c>txid_current()</c>) that inserted it.</param>
    public void Remember(string key, long id, long transaction) => Remember(key, id, transaction, null);

    /// <summary>Remembers a message answered 451 although its transaction may have committed, with its content's hash.</summary>
    /// <param name="key">Its <see cref="KeyOf"/>.</param>
    /// <param name="id">The id it was inserted with.</param>
    /// <param name="transaction">The PostgreSQL transaction id (<c>txid_current()</c>) that inserted it.</param>
    /// <param name="sha256">Its content's SHA-256, by which its row is recognised; without it the entry is settled only by a retry to this instance.</param>
    public void Remember(string key, long id, long transaction, string? sha256)
    {
        Trim();
        while (_count >= Capacity && _order.TryDequeue(out var oldest))
        {
            // The very entry queued: one forgotten since, or another remembered under the same key, stays.
            Remove(oldest.Key, oldest.Entry);
        }

        var entry = new Entry(id, transaction, _time.GetUtcNow() + Lifetime, sha256);
        if (!_entries.TryGetValue(key, out var list))
        {
            _entries[key] = list = new List<Entry>(1);
        }

        list.Add(entry);
        _count++;
        _order.Enqueue((key, entry));
    }

    /// <summary>The oldest remembered attempt of an identical transaction, if any, still within its lifetime.</summary>
    /// <param name="key">The retry's <see cref="KeyOf"/>.</param>
    /// <param name="entry">The first attempt.</param>
    /// <returns>Whether there is one.</returns>
    public bool TryGet(string key, out Entry entry) => TryGet(key, 0, out entry);

    /// <summary>
    /// A remembered attempt of an identical transaction, still within its lifetime: the oldest after
    /// <paramref name="skip"/> others (the retries of a group that already took them).
    /// </summary>
    /// <param name="key">The retry's <see cref="KeyOf"/>.</param>
    /// <param name="skip">How many attempts of this key are already taken.</param>
    /// <param name="entry">The attempt.</param>
    /// <returns>Whether there is one.</returns>
    public bool TryGet(string key, int skip, out Entry entry)
    {
        Trim();
        if (_entries.TryGetValue(key, out var list) && skip < list.Count)
        {
            entry = list[skip];
            return true;
        }

        entry = default;
        return false;
    }

    /// <summary>Every remembered attempt still within its lifetime, oldest first.</summary>
    /// <returns>The keys and attempts.</returns>
    public List<(string Key, Entry Entry)> All()
    {
        Trim();
        return [.. _order.Where(o => _entries.TryGetValue(o.Key, out var list) && list.Contains(o.Entry))];
    }

    /// <summary>Forgets the oldest attempt of a key.</summary>
    /// <param name="key">Its key.</param>
    public void Forget(string key)
    {
        if (_entries.TryGetValue(key, out var list))
        {
            Remove(key, list[0]);
        }
    }

    /// <summary>Forgets one attempt whose outcome is now known.</summary>
    /// <param name="key">Its key.</param>
    /// <param name="entry">The attempt, as <see cref="TryGet(string, int, out Entry)"/> gave it.</param>
    public void Forget(string key, Entry entry) => Remove(key, entry);

    private void Remove(string key, Entry entry)
    {
        if (_entries.TryGetValue(key, out var list) && list.Remove(entry))
        {
            _count--;
            if (list.Count == 0)
            {
                _entries.Remove(key);
            }
        }
    }

    private void Trim()
    {
        var now = _time.GetUtcNow();
        while (_order.TryPeek(out var oldest) && oldest.Entry.Expires <= now)
        {
            _order.Dequeue();
            Remove(oldest.Key, oldest.Entry);
        }
    }

    /// <summary>A remembered attempt.</summary>
    /// <param name="Id">The id the first attempt was inserted with.</param>
    /// <param name="Transaction">The transaction that inserted it.</param>
    /// <param name="Expires">When it is forgotten.</param>
    /// <param name="Sha256">The content's SHA-256, or <see langword="null"/> when not known.</param>
    internal readonly record struct Entry(long Id, long Transaction, DateTimeOffset Expires, string? Sha256 = null);
}
