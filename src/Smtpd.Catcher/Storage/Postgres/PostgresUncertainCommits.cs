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

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, DateTimeOffset Expires)> _order = new();
    private readonly TimeProvider _time;

    /// <summary>Creates an empty map.</summary>
    /// <param name="time">The clock that expires entries.</param>
    public PostgresUncertainCommits(TimeProvider time) => _time = time;

    /// <summary>How many messages are remembered (expired ones included until the next call that trims).</summary>
    public int Count => _entries.Count;

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
    public void Remember(string key, long id, long transaction)
    {
        Trim();
        while (_entries.Count >= Capacity && _order.TryDequeue(out var oldest))
        {
            _entries.Remove(oldest.Key);
        }

        var expires = _time.GetUtcNow() + Lifetime;
        _entries[key] = new Entry(id, transaction, expires);
        _order.Enqueue((key, expires));
    }

    /// <summary>The remembered attempt of an identical transaction, if any, still within its lifetime.</summary>
    /// <param name="key">The retry's <see cref="KeyOf"/>.</param>
    /// <param name="entry">The first attempt.</param>
    /// <returns>Whether there is one.</returns>
    public bool TryGet(string key, out Entry entry)
    {
        Trim();
        return _entries.TryGetValue(key, out entry);
    }

    /// <summary>Forgets a message whose outcome is now known.</summary>
    /// <param name="key">Its key.</param>
    public void Forget(string key) => _entries.Remove(key);

    private void Trim()
    {
        var now = _time.GetUtcNow();
        while (_order.TryPeek(out var oldest) && oldest.Expires <= now)
        {
            _order.Dequeue();
            // A key remembered again later has a newer entry: only the expired one goes.
            if (_entries.TryGetValue(oldest.Key, out var entry) && entry.Expires <= now)
            {
                _entries.Remove(oldest.Key);
            }
        }
    }

    /// <summary>A remembered attempt.</summary>
    /// <param name="Id">The id the first attempt was inserted with.</param>
    /// <param name="Transaction">The transaction that inserted it.</param>
    /// <param name="Expires">When it is forgotten.</param>
    internal readonly record struct Entry(long Id, long Transaction, DateTimeOffset Expires);
}
