using System.Text.Json;
using MailKit;
using MailKit.Net.Smtp;
using Microsoft.Data.Sqlite;
using MimeKit;

namespace Smtpd.Cli.Tests;

/// <summary>
/// DSN (RFC 3461) in the catcher: offered by default, its parameters stored and shown in the event, list and show
/// only when a message had them, <c>--no-dsn</c> and its environment variable, and the upgrade of an older store.
/// </summary>
public sealed class DsnTests
{
    [Fact]
    public async Task DsnParametersSentByMailKitAreStoredAndComeBackInTheEventListAndShow()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var message = Mail.Simple(subject: "With DSN", to: "bob@example.com");
        message.To.Add(MailboxAddress.Parse("carol@example.org"));

        await SendWithDsnAsync(catcher, message);
        var e = await catcher.NextMessageAsync();

        var dsn = e.GetProperty("dsn");
        Assert.Equal("HDRS", dsn.GetProperty("ret").GetString());
        Assert.Equal("run 7=ok", dsn.GetProperty("envid").GetString());
        var bob = Assert.Single(dsn.GetProperty("recipients").EnumerateArray());
        Assert.Equal("bob@example.com", bob.GetProperty("to").GetString());
        Assert.Equal("SUCCESS,FAILURE", bob.GetProperty("notify").GetString());
        Assert.Equal("rfc822;bob@example.com", bob.GetProperty("orcpt").GetString(), ignoreCase: true);

        var id = e.GetProperty("id").GetString()!;
        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.Equal(0, list.ExitCode);
        var listed = Assert.Single(JsonDocument.Parse(list.Output).RootElement.EnumerateArray());
        Assert.True(JsonElement.DeepEquals(dsn, listed.GetProperty("dsn")), listed.GetProperty("dsn").GetRawText());

        var show = await SmtpdCli.RunAsync(dir, "show", id, "--db", dir.Database);
        Assert.Equal(0, show.ExitCode);
        Assert.Contains("DSN:           RET=HDRS ENVID=run 7=ok\n", show.Output, StringComparison.Ordinal);
        Assert.Contains("DSN-Recipient: <bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=", show.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("DSN-Recipient: <carol@example.org>", show.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMessageWithoutDsnParametersHasNoDsnMemberAndNoDsnLines()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);

        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(subject: "Plain"));
        var e = await catcher.NextMessageAsync();

        Assert.False(e.TryGetProperty("dsn", out _));
        var list = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.False(Assert.Single(JsonDocument.Parse(list.Output).RootElement.EnumerateArray()).TryGetProperty("dsn", out _));
        var show = await SmtpdCli.RunAsync(dir, "show", e.GetProperty("id").GetString()!, "--db", dir.Database);
        Assert.DoesNotContain("DSN", show.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheCatcherOffersDsnByDefaultAndRecordsRawParametersExactly()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var connection = client;

        Assert.Contains("\n250-DSN\n", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await client.CommandAsync("MAIL FROM:<alice@example.com> RET=FULL ENVID=a+2Bb"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await client.CommandAsync("RCPT TO:<bob@example.com> NOTIFY=NEVER"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await client.CommandAsync("RCPT TO:<carol@example.org> ORCPT=utf-8;c\\x{E4}rol@example.org"), StringComparison.Ordinal);
        Assert.StartsWith("354 ", await client.CommandAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await client.CommandAsync("Subject: raw\r\n\r\nbody\r\n."), StringComparison.Ordinal);

        var dsn = (await catcher.NextMessageAsync()).GetProperty("dsn");
        Assert.Equal("FULL", dsn.GetProperty("ret").GetString());
        Assert.Equal("a+b", dsn.GetProperty("envid").GetString());
        var recipients = dsn.GetProperty("recipients").EnumerateArray().ToArray();
        Assert.Equal(2, recipients.Length);
        Assert.Equal(("bob@example.com", "NEVER"), (recipients[0].GetProperty("to").GetString(), recipients[0].GetProperty("notify").GetString()));
        Assert.False(recipients[0].TryGetProperty("orcpt", out _));
        Assert.False(recipients[1].TryGetProperty("notify", out _));
        Assert.Equal("utf-8;c\u00e4rol@example.org", recipients[1].GetProperty("orcpt").GetString());
    }

    [Theory]
    [InlineData("flag")]
    [InlineData("environment")]
    public async Task NoDsnStopsAdvertisingDsnAndItsParametersGet555(string source)
    {
        using var dir = new TestDirectory();
        await using var catcher = source == "flag"
            ? await CatcherProcess.StartAsync(dir, "--no-dsn")
            : await CatcherProcess.StartAsync(dir, [], new Dictionary<string, string> { ["SMTPD_NO_DSN"] = "true" });
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var connection = client;

        Assert.DoesNotContain("DSN", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
        Assert.StartsWith("555 5.5.4", await client.CommandAsync("MAIL FROM:<alice@example.com> RET=FULL"), StringComparison.Ordinal);
        Assert.StartsWith("250 ", await client.CommandAsync("MAIL FROM:<alice@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("555 5.5.4", await client.CommandAsync("RCPT TO:<bob@example.com> NOTIFY=NEVER"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AVersion1StoreIsUpgradedInPlaceAndKeepsItsMessages()
    {
        using var dir = new TestDirectory();
        CreateVersion1Store(dir.Database);

        // A read command upgrades it first: the query names the new columns.
        var before = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        Assert.Equal(0, before.ExitCode);
        var old = Assert.Single(JsonDocument.Parse(before.Output).RootElement.EnumerateArray());
        Assert.Equal("Old message", old.GetProperty("subject").GetString());
        Assert.False(old.TryGetProperty("dsn", out _));
        Assert.Equal(5L, UserVersion(dir.Database));

        await using (var catcher = await CatcherProcess.StartAsync(dir))
        {
            await SendWithDsnAsync(catcher, Mail.Simple(subject: "New message"));
            await catcher.NextMessageAsync();
        }

        var after = await SmtpdCli.RunAsync(dir, "list", "--json", "--db", dir.Database);
        var listed = JsonDocument.Parse(after.Output).RootElement.EnumerateArray().ToArray();
        Assert.Equal(["New message", "Old message"], listed.Select(m => m.GetProperty("subject").GetString()));
        Assert.Equal("run 7=ok", listed[0].GetProperty("dsn").GetProperty("envid").GetString());
        var show = await SmtpdCli.RunAsync(dir, "show", "1", "--raw", "--db", dir.Database);
        Assert.Equal("Subject: Old message\r\n\r\nold\r\n"u8.ToArray(), show.Stdout);
    }

    [Fact]
    public async Task TheCatcherUpgradesAVersion1StoreWhenItOpensIt()
    {
        using var dir = new TestDirectory();
        CreateVersion1Store(dir.Database);

        await using (var catcher = await CatcherProcess.StartAsync(dir))
        {
            Assert.Equal(5L, UserVersion(dir.Database));
            await SendWithDsnAsync(catcher, Mail.Simple(subject: "New message"));
            Assert.Equal("HDRS", (await catcher.NextMessageAsync()).GetProperty("dsn").GetProperty("ret").GetString());
        }

        var show = await SmtpdCli.RunAsync(dir, "show", "2", "--db", dir.Database);
        Assert.Contains("DSN:           RET=HDRS ENVID=run 7=ok", show.Output, StringComparison.Ordinal);
    }

    private static async Task SendWithDsnAsync(CatcherProcess catcher, MimeMessage message)
    {
        using var client = new DsnSmtpClient { Timeout = 30_000 };
        await client.ConnectAsync(catcher.EndPoint.Address.ToString(), catcher.Port, MailKit.Security.SecureSocketOptions.None, TestContext.Current.CancellationToken);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Dsn));
        await client.SendAsync(message, TestContext.Current.CancellationToken);
        await client.DisconnectAsync(true, TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// The schema as smtpd wrote it before DSN (version 1), with one message. A frozen copy on purpose, not a call into
    /// <c>StoreSchema</c>: the test must keep the old store's shape however the live schema changes.
    /// </summary>
    private static void CreateVersion1Store(string path)
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
                has_attachments INTEGER NOT NULL
            );
            CREATE TABLE message_chunks (
                chunk_key  INTEGER PRIMARY KEY,
                message_id INTEGER NOT NULL,
                seq        INTEGER NOT NULL,
                data       BLOB    NOT NULL
            );
            INSERT INTO messages (id, received_at, mail_from, rcpt_to, client, helo, tls, size, sha256, subject, has_attachments)
            VALUES (1, '2025-01-31T14:00:00.0000000Z', 'old@example.com', '["bob@example.com"]', '127.0.0.1:40000', 'old.test', 0, 29,
                    '0000000000000000000000000000000000000000000000000000000000000000', 'Old message', 0);
            INSERT INTO message_chunks (chunk_key, message_id, seq, data) VALUES (1048576, 1, 0, CAST('Subject: Old message' || char(13, 10, 13, 10) || 'old' || char(13, 10) AS BLOB));
            PRAGMA user_version = 1;
            """;
        command.ExecuteNonQuery();
    }

    private static long UserVersion(string path)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version";
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Asks MailKit for DSNs: NOTIFY for bob only, and an ENVID that needs xtext encoding.</summary>
    private sealed class DsnSmtpClient : SmtpClient
    {
        public DsnSmtpClient() => DeliveryStatusNotificationType = MailKit.Net.Smtp.DeliveryStatusNotificationType.HeadersOnly;

        protected override DeliveryStatusNotification? GetDeliveryStatusNotifications(MimeMessage message, MailboxAddress mailbox) =>
            mailbox.Address == "bob@example.com" ? DeliveryStatusNotification.Success | DeliveryStatusNotification.Failure : null;

        protected override string GetEnvelopeId(MimeMessage message) => "run 7=ok";
    }
}
