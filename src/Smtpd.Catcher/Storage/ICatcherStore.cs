using Smtpd.Catcher.Search;

namespace Smtpd.Catcher.Storage;

/// <summary>
/// The store as its readers see it: queries, content streams, tags, read state and deletion. One instance is one
/// connection (SQLite: a pooled connection to the file; PostgreSQL: a pooled connection of the data source);
/// disposing it gives the connection back. <see cref="MessageStore"/> is the SQLite implementation,
/// <see cref="Postgres.PostgresMessageStore"/> the PostgreSQL one; both answer every call the same way
/// (tests/Smtpd.Catcher.Tests/Storage/StoreBehaviourTests.cs runs one body per behaviour against each).
/// </summary>
internal interface IMessageStore : IDisposable
{
    /// <summary>Lists messages, newest first.</summary>
    /// <param name="filter">The filters.</param>
    /// <returns>The matching messages.</returns>
    IReadOnlyList<MessageRecord> List(MessageFilter filter);

    /// <summary>Finds one message (without its tags).</summary>
    /// <param name="id">The id.</param>
    /// <returns>The message, or <see langword="null"/>.</returns>
    MessageRecord? Find(long id);

    /// <summary>Every id, oldest first.</summary>
    /// <returns>The ids.</returns>
    IReadOnlyList<long> AllIds();

    /// <summary>Opens the exact content of a message; the stream is valid while the store is open.</summary>
    /// <param name="message">The message, as <see cref="Find"/> returned it.</param>
    /// <returns>A seekable stream that holds one chunk in memory at a time.</returns>
    Stream OpenContent(MessageRecord message);

    /// <summary>Opens the exact content of a message in a read snapshot; disposing the stream disposes the store.</summary>
    /// <param name="message">The message.</param>
    /// <returns>The stream.</returns>
    Stream OpenOwnedContent(MessageRecord message);

    /// <summary>Deletes messages with everything that belongs to them.</summary>
    /// <param name="ids">The ids.</param>
    /// <returns>The ids that were there and are now gone.</returns>
    IReadOnlyList<long> Delete(IReadOnlyList<long> ids);

    /// <summary>Deletes every message a search matches.</summary>
    /// <param name="query">The compiled search.</param>
    /// <returns>The ids deleted.</returns>
    IReadOnlyList<long> Delete(CompiledQuery query);

    /// <summary>Deletes every message.</summary>
    /// <returns>How many there were.</returns>
    int Clear();

    /// <summary>One page of messages, newest first, with their tags, and the list's counts.</summary>
    /// <param name="query">A compiled search, or <see langword="null"/> for every message.</param>
    /// <param name="start">How many matching messages to skip.</param>
    /// <param name="limit">The most messages to return.</param>
    /// <returns>The page.</returns>
    MessagePage Page(CompiledQuery? query, int start, int limit);

    /// <summary>The newest message a search matches.</summary>
    /// <param name="query">A compiled search, or <see langword="null"/> for the newest of all.</param>
    /// <returns>Its id, or <see langword="null"/>.</returns>
    long? Latest(CompiledQuery? query);

    /// <summary>Whether one message matches a search.</summary>
    /// <param name="query">The compiled search.</param>
    /// <param name="id">The id.</param>
    /// <returns>Whether it exists and matches.</returns>
    bool Matches(CompiledQuery query, long id);

    /// <summary>Finds one message with its tags and read flag.</summary>
    /// <param name="id">The id.</param>
    /// <returns>The message, or <see langword="null"/>.</returns>
    MessageRecord? FindWithTags(long id);

    /// <summary>Sets the read flag of some messages.</summary>
    /// <param name="ids">The ids.</param>
    /// <param name="read">The flag.</param>
    /// <returns>The ids whose flag changed.</returns>
    IReadOnlyList<long> SetRead(IReadOnlyList<long> ids, bool read);

    /// <summary>Sets the read flag of every message, or of those a search matches.</summary>
    /// <param name="query">A compiled search, or <see langword="null"/> for all.</param>
    /// <param name="read">The flag.</param>
    /// <returns>The ids whose flag changed.</returns>
    IReadOnlyList<long> SetRead(CompiledQuery? query, bool read);

    /// <summary>Every tag in use, in ordinal order.</summary>
    /// <returns>The tags.</returns>
    IReadOnlyList<string> AllTags();

    /// <summary>How many messages carry each tag.</summary>
    /// <returns>The counts by tag.</returns>
    IReadOnlyDictionary<string, long> TagCounts();

    /// <summary>Replaces the tags of some messages; unknown ids are skipped.</summary>
    /// <param name="ids">The ids.</param>
    /// <param name="tags">The new tags; empty removes every tag.</param>
    /// <returns>The ids that exist.</returns>
    IReadOnlyList<long> SetTags(IReadOnlyList<long> ids, IReadOnlyList<string> tags);

    /// <summary>Renames a tag on every message that has it.</summary>
    /// <param name="from">The tag.</param>
    /// <param name="to">The new name.</param>
    /// <returns>The ids of the messages whose tags changed.</returns>
    IReadOnlyList<long> RenameTag(string from, string to);

    /// <summary>Removes a tag from every message.</summary>
    /// <param name="tag">The tag.</param>
    /// <returns>The ids of the messages that had it.</returns>
    IReadOnlyList<long> DeleteTag(string tag);

    /// <summary>The size of the database in octets, for <c>/api/v1/info</c>.</summary>
    /// <returns>The size.</returns>
    long DatabaseSize();

    /// <summary>
    /// Takes messages out of one named mailbox, in one transaction. A message then in no named mailbox is deleted
    /// from the store with everything that belongs to it; one still in another mailbox stays stored.
    /// </summary>
    /// <param name="ids">The ids; those not in the mailbox are skipped.</param>
    /// <param name="mailbox">The mailbox name.</param>
    /// <returns>The ids taken out of the mailbox, and of those the ids deleted from the store.</returns>
    (IReadOnlyList<long> Removed, IReadOnlyList<long> Deleted) RemoveFromMailbox(IReadOnlyList<long> ids, string mailbox);

    /// <summary>The ids a query matches, oldest first.</summary>
    /// <param name="query">The compiled query.</param>
    /// <returns>The ids.</returns>
    IReadOnlyList<long> Ids(CompiledQuery query);

    /// <summary>The named mailboxes one message is in, in ordinal order (<see cref="MessageRecord.Mailboxes"/> as stored).</summary>
    /// <param name="id">The id.</param>
    /// <returns>The names; empty for a message in none, or not stored.</returns>
    IReadOnlyList<string> MailboxesOf(long id);
}

/// <summary>
/// A catcher's store: the one writer that commits messages in groups, and the readers the HTTP API, POP3, relay and
/// the store commands open. The catcher holds exactly one and uses nothing backend-specific besides it.
/// </summary>
internal interface ICatcherStore : IDisposable
{
    /// <summary>Where the store is, for people: the SQLite file's full path, or the PostgreSQL server and database (never a password).</summary>
    string Location { get; }

    /// <summary>Compiles searches into this store's SQL dialect.</summary>
    IMessageQueryCompiler Compiler { get; }

    /// <summary>
    /// Raised when another process (another catcher instance on the same database) stored messages, with their
    /// ids, on a thread-pool thread. The SQLite store has no other writer and never raises it.
    /// </summary>
    event Action<IReadOnlyList<long>>? RemoteStored;

    /// <summary>
    /// How many messages wait for the writer to take them into a transaction: the store queue's depth, for the
    /// <c>smtpd.catcher.queue.length</c> gauge.
    /// </summary>
    int QueueLength { get; }

    /// <summary>Opens a reader on a pooled connection; the caller disposes it.</summary>
    /// <returns>The reader.</returns>
    /// <exception cref="StoreUnavailableException">The database cannot be reached now.</exception>
    IMessageStore Open();

    /// <summary>
    /// Queues a message and completes once it is committed (durably), with its id. The content stream must stay
    /// readable until then.
    /// </summary>
    /// <param name="record">The metadata.</param>
    /// <param name="content">The exact content when it is already in memory, else <see langword="null"/>.</param>
    /// <param name="openContent">Opens the exact content, for messages not given as <paramref name="content"/>.</param>
    /// <returns>The store's id.</returns>
    Task<long> StoreAsync(MessageRecord record, byte[]? content, Func<Stream> openContent);

    /// <summary>Commits what is queued and closes the writer.</summary>
    /// <returns>A task that completes when the store is closed.</returns>
    Task CloseAsync();
}

/// <summary>The store's database cannot be reached now (PostgreSQL down or restarting); the HTTP API answers 503 with the message.</summary>
internal sealed class StoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed, one line.</param>
    /// <param name="innerException">The driver's error.</param>
    public StoreUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>The SQLite store: <see cref="StoreWriter"/> for writes and <see cref="MessageStore.OpenPooled"/> for reads, unchanged.</summary>
internal sealed class SqliteCatcherStore : ICatcherStore
{
    private readonly StoreWriter _writer;

    /// <summary>Opens (creating if needed) the store file and starts its writer.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="retention">Which messages to keep.</param>
    /// <param name="time">The clock retention by age reads.</param>
    /// <param name="pruned">Called after each commit that pruned by retention.</param>
    public SqliteCatcherStore(string path, StoreRetention retention, TimeProvider time, Action<StorePruned>? pruned) =>
        _writer = new StoreWriter(path, retention, time, pruned);

    /// <summary>The full path of the database file.</summary>
    public string Path => _writer.Path;

    /// <inheritdoc/>
    public string Location => _writer.Path;

    /// <inheritdoc/>
    public IMessageQueryCompiler Compiler => SearchQueryCompiler.Instance;

    /// <inheritdoc/>
    public event Action<IReadOnlyList<long>>? RemoteStored
    {
        add { }
        remove { }
    }

    /// <inheritdoc/>
    public int QueueLength => _writer.QueueLength;

    /// <inheritdoc/>
    public IMessageStore Open() => MessageStore.OpenPooled(_writer.Path);

    /// <inheritdoc/>
    public Task<long> StoreAsync(MessageRecord record, byte[]? content, Func<Stream> openContent) => _writer.StoreAsync(record, content, openContent);

    /// <inheritdoc/>
    public Task CloseAsync() => _writer.CloseAsync();

    /// <inheritdoc/>
    public void Dispose() => _writer.Dispose();
}
