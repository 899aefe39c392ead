using Microsoft.Data.Sqlite;

namespace Smtpd.Catcher.Storage;

/// <summary>
/// The layout of the SQLite store and the connection settings every user of it shares. docs/cli.md describes the
/// schema; <see cref="Version"/> goes up with every incompatible change.
/// </summary>
internal static class StoreSchema
{
    /// <summary>
    /// The schema version kept in <c>PRAGMA user_version</c>. 1: the first layout. 2: adds the DSN columns
    /// <c>dsn_ret</c>, <c>dsn_envid</c> and <c>rcpt_dsn</c>. 3: adds what the HTTP API lists and searches (read flag,
    /// Cc, Bcc, Reply-To, part counts, snippet, TLS cipher), the <c>message_tags</c> table and the
    /// <c>messages_fts</c> full-text index. 4: adds what search needs beyond that (docs/search.md "What the store
    /// provides"): the trigram index <c>messages_fields_fts</c>, the index on <c>lower(tag)</c> and the
    /// <c>message_headers</c> table. 5: adds mailboxes: the <c>listener_port</c> column and the <c>message_mailboxes</c>
    /// table. An older store is upgraded in place when opened, and its messages are indexed
    /// again from their stored content (<see cref="StoreBackfill"/>), so every message is searchable.
    /// </summary>
    public const int Version = 5;

    /// <summary>
    /// Raw content is kept in rows of at most this many octets, so neither writing nor reading a message ever holds
    /// more than one chunk of it in memory, and no message meets SQLite's one-gigabyte limit on a single value.
    /// </summary>
    public const int ChunkSize = 256 * 1024;

    /// <summary>
    /// A chunk's key is <c>message_id * ChunkKeyFactor + seq</c>: the table's own rowid orders chunks by message and
    /// position, so no second index has to be kept up to date on every insert, and a message's chunks (or all the
    /// chunks of the oldest messages) are one key range. 2^20 chunks of 256 KiB allow 256 GiB per message.
    /// </summary>
    public const long ChunkKeyFactor = 1L << 20;

    /// <summary>The key of chunk <paramref name="seq"/> of message <paramref name="messageId"/>.</summary>
    /// <param name="messageId">The message id.</param>
    /// <param name="seq">The chunk number, from 0.</param>
    /// <returns>The key.</returns>
    public static long ChunkKey(long messageId, long seq) => (messageId * ChunkKeyFactor) + seq;

    /// <summary>
    /// How long a connection waits for another one's write lock (a <c>smtpd delete</c> beside a running catcher)
    /// before it gives up. A catcher commits in milliseconds, so five seconds is ample.
    /// </summary>
    public const int BusyTimeoutMilliseconds = 5000;

    private const string CreateSql = """
        CREATE TABLE IF NOT EXISTS messages (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            received_at     TEXT    NOT NULL,
            mail_from       TEXT    NOT NULL,
            rcpt_to         TEXT    NOT NULL,
            client          TEXT    NOT NULL,
            helo            TEXT,
            tls             INTEGER NOT NULL,
            tls_protocol    TEXT,
            auth_user       TEXT,
            size            INTEGER NOT NULL,
            sha256          TEXT    NOT NULL,
            subject         TEXT,
            header_from     TEXT,
            header_to       TEXT,
            header_date     TEXT,
            message_id      TEXT,
            has_attachments INTEGER NOT NULL,
            dsn_ret         TEXT,
            dsn_envid       TEXT,
            rcpt_dsn        TEXT,
            is_read         INTEGER NOT NULL DEFAULT 0,
            header_cc       TEXT,
            header_bcc      TEXT,
            header_reply_to TEXT,
            attachments     INTEGER NOT NULL DEFAULT 0,
            inline_parts    INTEGER NOT NULL DEFAULT 0,
            snippet         TEXT,
            tls_cipher      TEXT,
            listener_port   INTEGER
        );
        CREATE TABLE IF NOT EXISTS message_chunks (
            chunk_key  INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL,
            seq        INTEGER NOT NULL,
            data       BLOB    NOT NULL
        );
        """ + Version3TablesSql + Version4TablesSql + Version5TablesSql;

    /// <summary>
    /// The tables and indexes version 3 adds. <c>messages_by_read</c> exists for the list's counts: SQLite counts
    /// rows from the smallest index, and without it <c>count(*)</c> and the unread count read every row of
    /// <c>messages</c> (all its text columns) on every list request. The full-text index is contentless (the text
    /// is in <c>messages</c> and the chunks already) with <c>contentless_delete</c>, so deleting a message deletes its
    /// index row by rowid.
    /// </summary>
    private const string Version3TablesSql = """
        CREATE INDEX IF NOT EXISTS messages_by_read ON messages(is_read);
        CREATE TABLE IF NOT EXISTS message_tags (
            message_id INTEGER NOT NULL,
            tag        TEXT    NOT NULL,
            PRIMARY KEY (message_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS message_tags_by_tag ON message_tags(tag, message_id);
        CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(subject, addresses, body,
            content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');
        """;

    /// <summary>
    /// What version 4 adds for search. <c>messages_fields_fts</c> is a trigram index over the fields that
    /// <c>from:</c>, <c>to:</c>, <c>cc:</c>, <c>bcc:</c>, <c>reply-to:</c>, <c>subject:</c> and <c>message-id:</c> look
    /// in as substrings: without it each such term reads every message. Row <c>rowid = messages.id</c>;
    /// <c>from_text</c> is the From header, a line feed and MAIL FROM; <c>to_text</c> the To header, then every
    /// envelope recipient one a line. <c>message_headers</c> holds every header field of the top-level message for
    /// <c>header:</c>, its name lower-cased and its value unfolded and decoded (RFC 5322 2.2.3, RFC 2047).
    /// </summary>
    private const string Version4TablesSql = """
        CREATE VIRTUAL TABLE IF NOT EXISTS messages_fields_fts USING fts5(from_text, to_text, cc_text, bcc_text, reply_to_text, subject, message_id,
            content='', contentless_delete=1, tokenize='trigram');
        CREATE INDEX IF NOT EXISTS message_tags_by_lower_tag ON message_tags(lower(tag), message_id);
        CREATE TABLE IF NOT EXISTS message_headers (
            message_id INTEGER NOT NULL,
            seq        INTEGER NOT NULL,
            name       TEXT    NOT NULL,
            value      TEXT    NOT NULL,
            PRIMARY KEY (message_id, seq)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS message_headers_by_name ON message_headers(name, message_id);
        """;

    /// <summary>
    /// The store's change counter, for the list's counts (CountCache): <c>store_changes.n</c> goes up with every change
    /// that can alter which stored messages a search matches or whether they are read: a message deleted or updated,
    /// a tag added or removed, a message taken out of a named mailbox. Adding a message does not move it (a new message has a new, higher id, which the counts
    /// look for), so ingest runs no trigger. Every path that changes the store (the API, retention, another process's
    /// <c>smtpd delete</c>) goes through SQLite, so triggers catch them all. It is created on every open for writing,
    /// <c>IF NOT EXISTS</c>: it needs no schema version, and an older smtpd simply never reads it.
    /// </summary>
    private const string ChangeCounterSql = """
        CREATE TABLE IF NOT EXISTS store_changes (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
        INSERT OR IGNORE INTO store_changes (id, n) VALUES (1, 0);
        CREATE TRIGGER IF NOT EXISTS store_changes_on_delete AFTER DELETE ON messages BEGIN UPDATE store_changes SET n = n + 1 WHERE id = 1; END;
        CREATE TRIGGER IF NOT EXISTS store_changes_on_update AFTER UPDATE ON messages BEGIN UPDATE store_changes SET n = n + 1 WHERE id = 1; END;
        CREATE TRIGGER IF NOT EXISTS store_changes_on_tag AFTER INSERT ON message_tags BEGIN UPDATE store_changes SET n = n + 1 WHERE id = 1; END;
        CREATE TRIGGER IF NOT EXISTS store_changes_on_untag AFTER DELETE ON message_tags BEGIN UPDATE store_changes SET n = n + 1 WHERE id = 1; END;
        CREATE TRIGGER IF NOT EXISTS store_changes_on_unbox AFTER DELETE ON message_mailboxes BEGIN UPDATE store_changes SET n = n + 1 WHERE id = 1; END;
        """;

    /// <summary>
    /// What version 5 adds for mailboxes (docs/cli.md "Mailboxes"): the named mailboxes each message was routed to
    /// when it was stored, one row per (message, mailbox), so a message in two mailboxes is stored once. The primary
    /// key serves deleting a message's rows by id range; <c>message_mailboxes_by_name</c> serves listing, counting and
    /// pruning one mailbox newest or oldest first.
    /// </summary>
    private const string Version5TablesSql = """
        CREATE TABLE IF NOT EXISTS message_mailboxes (
            message_id INTEGER NOT NULL,
            name       TEXT    NOT NULL,
            PRIMARY KEY (message_id, name)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS message_mailboxes_by_name ON message_mailboxes(name, message_id);
        """;

    /// <summary>
    /// Deletes the rows that belong to the messages with ids from <c>$first</c> to <c>$last</c>, besides the
    /// <c>messages</c> row itself: content chunks (one key range, see <see cref="ChunkKeyFactor"/>), tags, and the
    /// rows of every index. Retention, delete and the upgrade share it, so no table is ever forgotten by one of them.
    /// </summary>
    public const string DeleteRelatedRangeSql = """
        DELETE FROM message_chunks WHERE chunk_key >= $first * $factor AND chunk_key < ($last + 1) * $factor;
        DELETE FROM message_tags WHERE message_id BETWEEN $first AND $last;
        DELETE FROM message_headers WHERE message_id BETWEEN $first AND $last;
        DELETE FROM message_mailboxes WHERE message_id BETWEEN $first AND $last;
        DELETE FROM messages_fts WHERE rowid BETWEEN $first AND $last;
        DELETE FROM messages_fields_fts WHERE rowid BETWEEN $first AND $last;
        """;

    /// <summary>Empties every table of messages (the <c>delete-all</c> command empties a contentless FTS5 index in one step).</summary>
    public const string DeleteAllSql = """
        DELETE FROM message_chunks;
        DELETE FROM message_tags;
        DELETE FROM message_headers;
        DELETE FROM message_mailboxes;
        INSERT INTO messages_fts (messages_fts) VALUES ('delete-all');
        INSERT INTO messages_fields_fts (messages_fields_fts) VALUES ('delete-all');
        DELETE FROM messages;
        """;

    /// <summary>
    /// Upgrades a version 2 store to 3: the new columns have defaults or are nullable, so ADD COLUMN rewrites nothing.
    /// <see cref="StoreBackfill"/> then fills them, and the full-text rows, from each stored message's content.
    /// </summary>
    private const string UpgradeFrom2Sql = """
        ALTER TABLE messages ADD COLUMN is_read INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN header_cc TEXT;
        ALTER TABLE messages ADD COLUMN header_bcc TEXT;
        ALTER TABLE messages ADD COLUMN header_reply_to TEXT;
        ALTER TABLE messages ADD COLUMN attachments INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN inline_parts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN snippet TEXT;
        ALTER TABLE messages ADD COLUMN tls_cipher TEXT;
        UPDATE messages SET attachments = 1 WHERE has_attachments <> 0;
        """ + Version3TablesSql;

    /// <summary>Upgrades a version 3 store to 4: new tables only; <see cref="StoreBackfill"/> then fills them.</summary>
    private const string UpgradeFrom3Sql = Version4TablesSql;

    /// <summary>
    /// Upgrades a version 4 store to 5: a nullable column (instant) and a new table. Messages stored before have no
    /// listener port and belong to no named mailbox: routing is decided once, at ingest, so they stay in the default
    /// mailbox only.
    /// </summary>
    private const string UpgradeFrom4Sql = """
        ALTER TABLE messages ADD COLUMN listener_port INTEGER;
        """ + Version5TablesSql;

    /// <summary>
    /// Upgrades a version 1 store: the DSN columns are nullable, so adding them is all it takes and every stored
    /// message simply has no DSN parameters. ALTER TABLE ... ADD COLUMN rewrites nothing, so this is instant.
    /// </summary>
    private const string UpgradeFrom1Sql = """
        ALTER TABLE messages ADD COLUMN dsn_ret TEXT;
        ALTER TABLE messages ADD COLUMN dsn_envid TEXT;
        ALTER TABLE messages ADD COLUMN rcpt_dsn TEXT;
        """;

    /// <summary>The connection string for <paramref name="path"/>.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="readOnly">Whether the connection only reads.</param>
    /// <returns>The connection string.</returns>
    public static string ConnectionString(string path, bool readOnly) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
        // Pooling keeps the native handle open after Close(); the catcher closes its store on shutdown and a
        // one-shot command exits, so a pool only delays the final checkpoint that removes the WAL file.
        Pooling = false,
        DefaultTimeout = BusyTimeoutMilliseconds / 1000,
    }.ToString();

    /// <summary>
    /// Opens the store for writing, creating it if needed, in WAL mode with <c>synchronous=FULL</c>: every commit
    /// fsyncs the WAL, so a committed message survives a process crash and a power loss. The store's writer then
    /// moves the sync after its first commit to its flusher (StoreWriter, WalFlusher), which keeps that guarantee
    /// for every message answered <c>250</c>.
    /// </summary>
    /// <param name="path">The database file.</param>
    /// <returns>The open connection.</returns>
    /// <exception cref="SqliteException">The file cannot be opened or is not a store.</exception>
    /// <exception cref="InvalidOperationException">The store was made by a newer smtpd.</exception>
    public static SqliteConnection OpenForWriting(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        var connection = new SqliteConnection(ConnectionString(path, readOnly: false));
        try
        {
            connection.Open();
            Execute(connection, $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}");
            Execute(connection, "PRAGMA journal_mode = WAL");
            // FULL, not NORMAL: in WAL mode NORMAL skips the fsync at commit, so the last commits before a power
            // loss could vanish after their 250. FULL costs one fsync per commit, which group commit shares.
            Execute(connection, "PRAGMA synchronous = FULL");
            var version = UserVersion(connection);
            if (version > Version)
            {
                throw new InvalidOperationException($"the store {path} has schema version {version}; this smtpd knows version {Version} at most");
            }

            Upgrade(connection);
            Execute(connection, ChangeCounterSql);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Opens a new, empty store in memory with this schema (<see cref="ScratchStore"/>).</summary>
    /// <returns>The open connection; the database goes with it.</returns>
    public static SqliteConnection OpenInMemory()
    {
        var connection = new SqliteConnection("Data Source=:memory:");
        try
        {
            connection.Open();
            Execute(connection, CreateSql);
            Execute(connection, ChangeCounterSql);
            Execute(connection, $"PRAGMA user_version = {Version}");
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Opens an existing store for the store commands.</summary>
    /// <param name="path">The database file.</param>
    /// <param name="readOnly">Whether the command only reads.</param>
    /// <returns>The open connection.</returns>
    /// <exception cref="FileNotFoundException">There is no store at <paramref name="path"/>.</exception>
    public static SqliteConnection OpenExisting(string path, bool readOnly)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"no store at {path} (start the catcher first, or pass --db)", path);
        }

        if (!readOnly)
        {
            return OpenForWriting(path);
        }

        // Read-write even to read: a read-only connection can neither checkpoint nor remove the WAL and shared
        // memory files, and would leave them beside a store whose catcher has stopped.
        var connection = new SqliteConnection(ConnectionString(path, readOnly: false).Replace("Mode=ReadWriteCreate", "Mode=ReadWrite", StringComparison.Ordinal));
        try
        {
            connection.Open();
            Execute(connection, $"PRAGMA busy_timeout = {BusyTimeoutMilliseconds}");
            // A store written by an older smtpd lacks the newer columns the queries name.
            Upgrade(connection);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Brings a store of an older version (or a new, empty file) to <see cref="Version"/> in one transaction; a store
    /// of this or a newer version is left alone. The version is read again inside the write transaction, so two
    /// processes opening an old store at once upgrade it once.
    /// </summary>
    /// <param name="connection">The open connection.</param>
    private static void Upgrade(SqliteConnection connection)
    {
        if (UserVersion(connection) >= Version)
        {
            return;
        }

        using var transaction = connection.BeginTransaction(deferred: false);
        var version = UserVersion(connection, transaction);
        if (version >= Version)
        {
            return;
        }

        if (version == 0)
        {
            Execute(connection, CreateSql, transaction);
        }
        else
        {
            // Each step brings the store one version up, so a version 1 store takes them all.
            if (version < 2)
            {
                Execute(connection, UpgradeFrom1Sql, transaction);
            }

            if (version < 3)
            {
                Execute(connection, UpgradeFrom2Sql, transaction);
            }

            if (version < 4)
            {
                Execute(connection, UpgradeFrom3Sql, transaction);
            }

            Execute(connection, UpgradeFrom4Sql, transaction);
            if (version < 4)
            {
                // Only the search columns and index rows of versions 3 and 4 come from content; version 5 adds
                // nothing to backfill, so a version 4 store upgrades without reading a message.
                StoreBackfill.Run(connection, transaction, fromVersion: version);
            }
        }

        Execute(connection, $"PRAGMA user_version = {Version}", transaction);
        transaction.Commit();
    }

    private static int UserVersion(SqliteConnection connection, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version";
        command.Transaction = transaction;
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Runs one statement.</summary>
    /// <param name="connection">The connection.</param>
    /// <param name="sql">The statement.</param>
    /// <param name="transaction">The transaction the connection is in, if any.</param>
    /// <returns>The number of rows changed.</returns>
    public static int Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command.ExecuteNonQuery();
    }

    /// <summary>Runs one query and returns its first value.</summary>
    /// <param name="connection">The connection.</param>
    /// <param name="sql">The query.</param>
    /// <param name="transaction">The transaction the connection is in, if any.</param>
    /// <returns>The value.</returns>
    public static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command.ExecuteScalar();
    }
}
