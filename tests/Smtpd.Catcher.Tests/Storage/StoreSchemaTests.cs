using System.Net;
using Microsoft.Data.Sqlite;
using MimeKit;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Tests.Http;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// Schema versions 3 and 4: the upgrade in place (with the backfill that makes old messages searchable), and the
/// full-text, trigram, header and tag rows that live and die with their message.
/// </summary>
public sealed class StoreSchemaTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("smtpd-schema-").FullName;

    private string Database => Path.Combine(_directory, "store.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task AnOlderStoreIsUpgradedInPlaceAndItsMessagesAreIndexedFromTheirContent(int version)
    {
        CreateOldStore(Database, version);
        await using (var host = await CatcherHost.StartAsync(o => o.DatabasePath = Database))
        {
            Assert.Equal(5L, Scalar("PRAGMA user_version"));
            await host.SendSimpleAsync("New message");
            var list = await host.GetJsonAsync("/api/v1/messages");
            var messages = list.GetProperty("messages").EnumerateArray().ToList();
            Assert.Equal(["New message", "Old message"], messages.Select(m => m.GetProperty("Subject").GetString()));
            // The version 3 columns come from the stored content, as at ingest.
            Assert.Equal("old body", messages[1].GetProperty("Snippet").GetString());
            Assert.Equal("carol@example.com", messages[1].GetProperty("Cc").EnumerateArray().Single().GetProperty("Address").GetString());
            foreach (var query in new[] { "body", "subject:\"Old message\"", "from:old@example", "cc:carol", "header:X-Legacy=yes", "message-id:old.1@example" })
            {
                var found = await host.GetJsonAsync("/api/v1/search?query=" + Uri.EscapeDataString(query));
                Assert.Equal(["Old message"], found.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("Subject").GetString()));
            }

            Assert.False(messages[1].GetProperty("Read").GetBoolean());

            // Tags and deletes work on the upgraded message too.
            using var tag = await host.Client.PutAsync("/api/v1/tags", MessagesApiTests.JsonContent("{\"IDs\":[\"1\"],\"Tags\":[\"old\"]}"), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, tag.StatusCode);
            using var request = new HttpRequestMessage(HttpMethod.Delete, "/api/v1/messages") { Content = MessagesApiTests.JsonContent("{\"IDs\":[\"1\"]}") };
            using var delete = await host.Client.SendAsync(request, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        Assert.Equal(0L, Scalar("SELECT count(*) FROM message_tags"));
        Assert.Equal(1L, Scalar("SELECT count(*) FROM messages"));
        Assert.Equal(0L, Scalar("SELECT count(*) FROM message_headers WHERE message_id = 1"));
        Assert.Equal(0L, Scalar("SELECT count(*) FROM messages_fields_fts WHERE messages_fields_fts MATCH '\"Old message\"'"));
    }

    [Fact]
    public async Task DeletingAndClearingRemoveEveryIndexRow()
    {
        await using (var host = await CatcherHost.StartAsync(o => o.DatabasePath = Database))
        {
            var first = await host.SendSimpleAsync("Alpha unique");
            await host.SendSimpleAsync("Beta unique");
            Assert.Equal(2L, Scalar("SELECT count(*) FROM messages_fields_fts WHERE messages_fields_fts MATCH 'subject : unique'"));
            using (var request = new HttpRequestMessage(HttpMethod.Delete, "/api/v1/messages") { Content = MessagesApiTests.JsonContent("{\"IDs\":[\"" + first + "\"]}") })
            using (var delete = await host.Client.SendAsync(request, TestContext.Current.CancellationToken))
            {
                Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
            }

            Assert.Equal(1L, Scalar("SELECT count(*) FROM messages_fields_fts WHERE messages_fields_fts MATCH 'subject : unique'"));
            Assert.Equal(0L, Scalar($"SELECT count(*) FROM message_headers WHERE message_id = {first}"));
            using (var clear = await host.Client.DeleteAsync("/api/v1/messages", TestContext.Current.CancellationToken))
            {
                Assert.Equal(HttpStatusCode.OK, clear.StatusCode);
            }
        }

        Assert.Equal(0L, Scalar("SELECT count(*) FROM messages_fields_fts WHERE messages_fields_fts MATCH 'subject : unique'"));
        Assert.Equal(0L, Scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'unique'"));
        Assert.Equal(0L, Scalar("SELECT count(*) FROM message_headers"));
    }

    [Fact]
    public async Task EveryStoredMessageGetsItsFullTextRowAndTheNewColumnsInTheSameCommit()
    {
        await using (var host = await CatcherHost.StartAsync(o => o.DatabasePath = Database))
        {
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Zoë Sender", "zoe@example.com"));
            message.To.Add(MailboxAddress.Parse("bob@example.com"));
            message.Cc.Add(MailboxAddress.Parse("carol@example.com"));
            message.Subject = "Quarterly numbers";
            message.Body = new BodyBuilder { HtmlBody = "<p>Hello <b>wonderful</b>\n\n   world</p><script>var hidden = 1;</script>" }.ToMessageBody();
            await host.SendAsync(message);
        }

        Assert.Equal(1L, Scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'wonderful'"));
        Assert.Equal(1L, Scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'addresses: zoe'"));
        Assert.Equal(1L, Scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'subject: quarterly'"));
        Assert.Equal(0L, Scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'hidden'"));
        Assert.Equal("Hello wonderful world", Scalar("SELECT snippet FROM messages"));
        Assert.Equal("carol@example.com", Scalar("SELECT header_cc FROM messages"));
        Assert.Equal(1L, Scalar("SELECT count(*) FROM messages_fields_fts WHERE messages_fields_fts MATCH 'from_text : \"Zoë Sender\"'"));
        Assert.Equal(1L, Scalar("SELECT count(*) FROM messages_fields_fts WHERE messages_fields_fts MATCH 'cc_text : \"carol@\"'"));
        Assert.Equal("Quarterly numbers", Scalar("SELECT value FROM message_headers WHERE name = 'subject'"));
    }

    [Fact]
    public async Task TheApisConnectionsCommitWithoutAnFsyncAndTheWritersWithOne()
    {
        await using (var host = await CatcherHost.StartAsync(o => o.DatabasePath = Database))
        {
            await host.SendSimpleAsync("One");
            using (var store = MessageStore.OpenPooled(Database))
            {
                store.SetRead([1L], read: true);
            }

            // The pool hands back the API's native connection, with the settings OpenPooled gave it: NORMAL is 1.
            using var pooled = new SqliteConnection(MessageStore.PooledConnectionString(Database));
            pooled.Open();
            using var command = pooled.CreateCommand();
            command.CommandText = "PRAGMA synchronous";
            Assert.Equal(1L, command.ExecuteScalar());
        }

        // The store commands (smtpd delete, clear) open the store for writing with FULL (2).
        using var forWriting = StoreSchema.OpenForWriting(Database);
        using var check = forWriting.CreateCommand();
        check.CommandText = "PRAGMA synchronous";
        Assert.Equal(2L, check.ExecuteScalar());
        Assert.Equal(1L, Scalar("SELECT is_read FROM messages WHERE id = 1"));
    }

    [Fact]
    public async Task EveryHeaderFieldIsStoredInOrderWhateverTheirCount()
    {
        // The few fields MimeKit writes, a handful more, and many more than an ordinary message has.
        int[] extraFields = [0, 3, 14, 37];
        await using (var host = await CatcherHost.StartAsync(o => o.DatabasePath = Database))
        {
            foreach (var extra in extraFields)
            {
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse("a@example.com"));
                message.To.Add(MailboxAddress.Parse("b@example.com"));
                message.Subject = $"extra {extra}";
                for (var i = 0; i < extra; i++)
                {
                    message.Headers.Add($"X-Field-{i}", $"value {extra}.{i}");
                }

                message.Body = new TextPart("plain") { Text = "body" };
                await host.SendAsync(message);
                var found = await host.GetJsonAsync("/api/v1/search?query=" + Uri.EscapeDataString(extra == 0 ? "header:Subject=\"extra 0\"" : $"header:X-Field-{extra - 1}=\"value {extra}.{extra - 1}\""));
                Assert.Equal([$"extra {extra}"], found.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("Subject").GetString()));
            }
        }

        for (var id = 1; id <= extraFields.Length; id++)
        {
            var extra = extraFields[id - 1];
            var rows = Rows($"SELECT seq, name, value FROM message_headers WHERE message_id = {id} ORDER BY seq");
            Assert.Equal(Enumerable.Range(0, rows.Count).Select(i => (object)(long)i), rows.Select(r => r[0]));
            var fields = rows.Where(r => ((string)r[1]!).StartsWith("x-field-", StringComparison.Ordinal)).Select(r => $"{r[1]}={r[2]}");
            Assert.Equal(Enumerable.Range(0, extra).Select(i => $"x-field-{i}=value {extra}.{i}"), fields);
            Assert.Contains(rows, r => (string)r[1]! == "subject" && (string)r[2]! == $"extra {extra}");
        }
    }

    private List<object?[]> Rows(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            reader.GetValues(row!);
            rows.Add(row);
        }

        return rows;
    }

    [Fact]
    public async Task RetentionRemovesTheTagsAndFullTextRowsOfTheMessagesItTrims()
    {
        await using (var host = await CatcherHost.StartAsync(o =>
        {
            o.DatabasePath = Database;
            o.Retain = 1;
        }))
        {
            var first = await host.SendSimpleAsync("First unique-one");
            using var tag = await host.Client.PutAsync("/api/v1/tags", MessagesApiTests.JsonContent("{\"IDs\":[\"" + first + "\"],\"Tags\":[\"keep\"]}"), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, tag.StatusCode);
            await host.SendSimpleAsync("Second");
        }

        Assert.Equal(0L, Scalar("SELECT count(*) FROM message_tags"));
        Assert.Equal(0L, Scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'first'"));
        Assert.Equal(0L, Scalar("SELECT count(*) FROM messages_fields_fts WHERE messages_fields_fts MATCH 'subject : first'"));
        Assert.Equal(1L, Scalar("SELECT count(DISTINCT message_id) FROM message_headers"));
        Assert.Equal(1L, Scalar("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'second'"));
    }

    private object? Scalar(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    /// <summary>
    /// The schema as smtpd wrote it before DSN (version 1) or with DSN (version 2), with one message. A frozen copy
    /// on purpose: the test must keep the old store's shape however the live schema changes.
    /// </summary>
    private static void CreateOldStore(string path, int version)
    {
        const string content = "From: old@example.com\r\nTo: bob@example.com\r\nCc: carol@example.com\r\nSubject: Old message\r\n"
            + "Message-ID: <old.1@example>\r\nX-Legacy: yes\r\n\r\nold body\r\n";
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"""
            PRAGMA journal_mode = WAL;
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
                has_attachments INTEGER NOT NULL{(version >= 2 ? ", dsn_ret TEXT, dsn_envid TEXT, rcpt_dsn TEXT" : "")}
            );
            CREATE TABLE message_chunks (
                chunk_key  INTEGER PRIMARY KEY,
                message_id INTEGER NOT NULL,
                seq        INTEGER NOT NULL,
                data       BLOB    NOT NULL
            );
            INSERT INTO messages (id, received_at, mail_from, rcpt_to, client, helo, tls, size, sha256, subject, header_from, has_attachments)
            VALUES (1, '2025-01-31T14:00:00.0000000Z', 'old@example.com', '["bob@example.com"]', '127.0.0.1:40000', 'old.test', 0, {content.Length},
                    '0000000000000000000000000000000000000000000000000000000000000000', 'Old message', 'old@example.com', 0);
            INSERT INTO message_chunks (chunk_key, message_id, seq, data) VALUES (1048576, 1, 0, $content);
            PRAGMA user_version = {version};
            """;
        command.Parameters.AddWithValue("$content", System.Text.Encoding.ASCII.GetBytes(content));
        command.ExecuteNonQuery();
    }
}
