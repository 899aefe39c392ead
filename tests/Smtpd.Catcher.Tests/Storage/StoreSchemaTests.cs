using System.Net;
using Microsoft.Data.Sqlite;
using MimeKit;
using Smtpd.Catcher.Tests.Http;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>Schema version 3: the upgrade in place, the full-text rows and tags that live and die with their message.</summary>
public sealed class StoreSchemaTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("smtpd-schema-").FullName;

    private string Database => Path.Combine(_directory, "store.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task AVersion2StoreIsUpgradedInPlaceAndItsMessagesListWithEmptyNewColumns()
    {
        CreateVersion2Store(Database);
        await using (var host = await CatcherHost.StartAsync(o => o.DatabasePath = Database))
        {
            Assert.Equal(3L, Scalar("PRAGMA user_version"));
            await host.SendSimpleAsync("New message");
            var list = await host.GetJsonAsync("/api/v1/messages");
            var messages = list.GetProperty("messages").EnumerateArray().ToList();
            Assert.Equal(["New message", "Old message"], messages.Select(m => m.GetProperty("Subject").GetString()));
            Assert.Equal(string.Empty, messages[1].GetProperty("Snippet").GetString());
            Assert.Equal(0, messages[1].GetProperty("Cc").GetArrayLength());
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
    /// The schema as smtpd wrote it with DSN (version 2), with one message. A frozen copy on purpose: the test must
    /// keep the old store's shape however the live schema changes.
    /// </summary>
    private static void CreateVersion2Store(string path)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
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
                has_attachments INTEGER NOT NULL,
                dsn_ret         TEXT,
                dsn_envid       TEXT,
                rcpt_dsn        TEXT
            );
            CREATE TABLE message_chunks (
                chunk_key  INTEGER PRIMARY KEY,
                message_id INTEGER NOT NULL,
                seq        INTEGER NOT NULL,
                data       BLOB    NOT NULL
            );
            INSERT INTO messages (id, received_at, mail_from, rcpt_to, client, helo, tls, size, sha256, subject, header_from, has_attachments)
            VALUES (1, '2025-01-31T14:00:00.0000000Z', 'old@example.com', '["bob@example.com"]', '127.0.0.1:40000', 'old.test', 0, 29,
                    '0000000000000000000000000000000000000000000000000000000000000000', 'Old message', 'old@example.com', 0);
            INSERT INTO message_chunks (chunk_key, message_id, seq, data) VALUES (1048576, 1, 0, CAST('Subject: Old message' || char(13, 10, 13, 10) || 'old' || char(13, 10) AS BLOB));
            PRAGMA user_version = 2;
            """;
        command.ExecuteNonQuery();
    }
}
