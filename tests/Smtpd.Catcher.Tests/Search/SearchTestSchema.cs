namespace Smtpd.Catcher.Tests.Search;

/// <summary>
/// The DDL the search tests, bench/SearchBench and the fuzzer's <c>search</c> target create their databases with. It
/// is in one file with no dependencies, so the fuzzer can link it without reaching the catcher's internals. Once the
/// store creates schema version 3, the tests and the bench switch to it in one edit (SearchTestStore's constructor).
/// </summary>
internal static class SearchTestSchema
{
    /// <summary>
    /// The store schema version 3 (issue 13), plus what search needs beyond it (docs/search.md "What the store
    /// provides"): the trigram index <c>messages_fields_fts</c>, the index on <c>lower(tag)</c>, and the
    /// <c>message_headers</c> table with its index by name.
    /// </summary>
    public const string Ddl = """
        CREATE TABLE messages (
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
            snippet         TEXT
        );
        CREATE TABLE message_tags (message_id INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (message_id, tag)) WITHOUT ROWID;
        CREATE INDEX message_tags_by_tag ON message_tags(tag, message_id);
        CREATE VIRTUAL TABLE messages_fts USING fts5(subject, addresses, body,
            content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');
        CREATE VIRTUAL TABLE messages_fields_fts USING fts5(from_text, to_text, cc_text, bcc_text, reply_to_text, subject, message_id,
            content='', contentless_delete=1, tokenize='trigram');
        CREATE INDEX message_tags_by_lower_tag ON message_tags(lower(tag), message_id);
        CREATE TABLE message_headers (
            message_id INTEGER NOT NULL,
            seq        INTEGER NOT NULL,
            name       TEXT    NOT NULL,
            value      TEXT    NOT NULL,
            PRIMARY KEY (message_id, seq)
        ) WITHOUT ROWID;
        CREATE INDEX message_headers_by_name ON message_headers(name, message_id);
        """;
}
