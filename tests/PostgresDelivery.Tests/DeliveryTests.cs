using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using MimeKit.IO;

namespace Smtpd.Samples.PostgresDelivery.Tests;

/// <summary>The sample against a real PostgreSQL: what a 250 promises, and what the client hears when the store fails.</summary>
public sealed class DeliveryTests(PostgresServer postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AMessageIsStoredWithItsExactBytesEveryRecipientAndTheRealClient()
    {
        var database = await postgres.CreateDatabaseAsync();
        await using var host = await MailHost.StartAsync(database);
        var message = NewMessage("exact bytes", ".a line that starts with a dot\r\nand a 3 MiB attachment below\r\n");
        message.Cc.Add(MailboxAddress.Parse("carol@example.com"));
        message.Bcc.Add(MailboxAddress.Parse("dave@example.net"));
        var attachment = new byte[3 * 1024 * 1024];
        new Random(8).NextBytes(attachment);
        var multipart = new Multipart("mixed") { message.Body!, new MimePart("application", "octet-stream") { Content = new MimeContent(new MemoryStream(attachment)), ContentTransferEncoding = ContentEncoding.Base64, FileName = "data.bin" } };
        message.Body = multipart;

        // From 127.0.0.2: a recorded 127.0.0.1 could be the server's own address; this one can only be the client's.
        var (client, from) = await host.ConnectAsync("127.0.0.2");
        using (client)
        {
            await client.SendAsync(message, Ct);
            await client.DisconnectAsync(true, Ct);
        }

        var row = Assert.Single(await StoredMessage.ReadAllAsync(database));
        // MailKit sends with CRLF line endings and leaves the Bcc header out; the server undoes the dot-stuffing.
        var expected = Serialize(message, hideBcc: true);
        Assert.True(expected.AsSpan().SequenceEqual(row.Raw), $"stored {row.Raw.Length} octets differ from the {expected.Length} sent");
        Assert.Equal(expected.Length, row.Size);
        Assert.Equal(SHA256.HashData(expected), row.Sha256);
        Assert.Equal("alice@example.com", row.Sender);
        Assert.Equal(["bob@example.com", "carol@example.com", "dave@example.net"], row.Recipients);
        Assert.DoesNotContain("dave@example.net", Encoding.ASCII.GetString(row.Raw), StringComparison.Ordinal);
        Assert.Equal(IPAddress.Parse("127.0.0.2"), row.ClientAddress);
        Assert.Equal(from.Port, row.ClientPort);
        Assert.Equal("client.test", row.Helo);
        Assert.Equal(message.MessageId, row.MessageId);
        Assert.Equal(Environment.MachineName, row.Instance);
        Assert.Equal(0, row.Duplicates);
    }

    [Fact]
    public async Task TheClientHearsTwoFiftyOnlyOnceTheCommitHasReturned()
    {
        var database = await postgres.CreateDatabaseAsync();
        await using var host = await MailHost.StartAsync(database);
        await using var admin = new NpgsqlConnection(database);
        await admin.OpenAsync(Ct);
        // A deferred constraint trigger runs inside COMMIT. It waits for an advisory lock that this test holds, so the
        // server's INSERT succeeds and its COMMIT blocks until the test lets go.
        await ExecuteAsync(admin, """
            CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS
              $$ BEGIN PERFORM pg_advisory_xact_lock_shared(8008); RETURN NULL; END $$;
            CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON smtpd_messages
              DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hold_commit();
            SELECT pg_advisory_lock(8008);
            """);

        var (client, _) = await host.ConnectAsync();
        using (client)
        {
            var send = client.SendAsync(NewMessage("held at commit"), Ct);
            await WaitUntilAsync(admin, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' AND query = 'COMMIT'");

            Assert.False(send.IsCompleted, "the client had its reply before the COMMIT returned");
            Assert.Empty(await StoredMessage.ReadAllAsync(database));

            await ExecuteAsync(admin, "SELECT pg_advisory_unlock(8008)");
            await send;
            // Read committed: the row is there for any other connection the moment the client has its 250.
            Assert.Single(await StoredMessage.ReadAllAsync(database));
            await client.DisconnectAsync(true, Ct);
        }
    }

    [Fact]
    public async Task WhileTheDatabaseIsDownTheClientGets451AndItsRetryIsStoredOnceItIsBack()
    {
        var database = await postgres.CreateDatabaseAsync();
        await using var host = await MailHost.StartAsync(database);
        var before = NewMessage("before the outage");
        await host.SendAsync(before);
        var retried = NewMessage("during the outage");

        await postgres.SetAvailableAsync(database, available: false);
        try
        {
            // Twice: the first finds the pooled connection killed, the second is refused a new one.
            for (var attempt = 0; attempt < 2; attempt++)
            {
                var error = await Assert.ThrowsAsync<SmtpCommandException>(() => host.SendAsync(retried));
                Assert.Equal(SmtpErrorCode.MessageNotAccepted, error.ErrorCode);
                Assert.Equal(SmtpStatusCode.ErrorInProcessing, error.StatusCode);
                Assert.Equal("4.3.0 Mail store unavailable, try again later", error.Message);
            }
        }
        finally
        {
            await postgres.SetAvailableAsync(database, available: true);
        }

        // The client's queue retries; the message is stored once, as a new row and not as a duplicate.
        await host.SendAsync(retried);

        var rows = await StoredMessage.ReadAllAsync(database);
        Assert.Equal([before.MessageId, retried.MessageId], rows.Select(r => r.MessageId));
        Assert.All(rows, r => Assert.Equal(0, r.Duplicates));
    }

    [Fact]
    public async Task ARetryOfAStoredMessageIsCountedNotStoredTwiceButTheSameBytesToAnotherEnvelopeAreANewDelivery()
    {
        var database = await postgres.CreateDatabaseAsync();
        await using var host = await MailHost.StartAsync(database);
        var message = NewMessage("sent twice");

        // The same bytes to the same envelope: what a client whose 250 was lost sends again.
        await host.SendAsync(message);
        await host.SendAsync(message);
        var (client, _) = await host.ConnectAsync();
        using (client)
        {
            await client.SendAsync(message, MailboxAddress.Parse("alice@example.com"), [MailboxAddress.Parse("erin@example.com")], Ct);
            await client.DisconnectAsync(true, Ct);
        }

        var rows = await StoredMessage.ReadAllAsync(database);
        Assert.Equal(2, rows.Count);
        Assert.Equal(["bob@example.com"], rows[0].Recipients);
        Assert.Equal(1, rows[0].Duplicates);
        Assert.Equal(["erin@example.com"], rows[1].Recipients);
        Assert.Equal(0, rows[1].Duplicates);
        Assert.Equal(rows[0].Raw, rows[1].Raw);
    }

    [Fact]
    public async Task ABounceFromTheNullSenderIsStoredAsTheOctetsTheClientMeant()
    {
        var database = await postgres.CreateDatabaseAsync();
        await using var host = await MailHost.StartAsync(database);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(host.EndPoint, Ct);
        await using var stream = new NetworkStream(socket);
        using var reader = new StreamReader(stream, Encoding.Latin1);

        await ExpectAsync(reader, "220");
        await SendLineAsync(stream, reader, "EHLO bounce.test", "250");
        await SendLineAsync(stream, reader, "MAIL FROM:<> BODY=8BITMIME", "250");
        await SendLineAsync(stream, reader, "RCPT TO:<postmaster@example.com>", "250");
        await SendLineAsync(stream, reader, "DATA", "354");
        // No headers a MIME parser would want, a dot-stuffed line and 8-bit text: stored as meant, unstuffed.
        await stream.WriteAsync(Encoding.UTF8.GetBytes("Subject: delivery failed\r\n\r\n..sig\r\ncaf\u00e9\r\n.\r\n"), Ct);
        await ExpectAsync(reader, "250");
        await SendLineAsync(stream, reader, "QUIT", "221");

        var row = Assert.Single(await StoredMessage.ReadAllAsync(database));
        Assert.Equal(string.Empty, row.Sender);
        Assert.Equal(["postmaster@example.com"], row.Recipients);
        Assert.Equal(Encoding.UTF8.GetBytes("Subject: delivery failed\r\n\r\n.sig\r\ncaf\u00e9\r\n"), row.Raw);
        Assert.Null(row.MessageId);
        Assert.Equal("bounce.test", row.Helo);
    }

    private static MimeMessage NewMessage(string subject, string text = "Hi.\r\n")
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = text };
        return message;
    }

    private static byte[] Serialize(MimeMessage message, bool hideBcc)
    {
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        if (hideBcc)
        {
            options.HiddenHeaders.Add(HeaderId.Bcc);
        }

        using var buffer = new MemoryBlockStream();
        message.WriteTo(options, buffer);
        return buffer.ToArray();
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }

    /// <summary>Polls <paramref name="countSql"/> until it counts one or more, for 10 s at most.</summary>
    private static async Task WaitUntilAsync(NpgsqlConnection connection, string countSql)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            await using var command = new NpgsqlCommand(countSql, connection);
            if ((long)(await command.ExecuteScalarAsync(Ct))! > 0)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"waited 10 s for: {countSql}");
            await Task.Delay(20, Ct);
        }
    }

    private static async Task SendLineAsync(NetworkStream stream, StreamReader reader, string line, string expectedCode)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"), Ct);
        await ExpectAsync(reader, expectedCode);
    }

    /// <summary>Reads one reply, multi-line or not, and checks its code.</summary>
    private static async Task ExpectAsync(StreamReader reader, string expectedCode)
    {
        while (true)
        {
            var line = await reader.ReadLineAsync(Ct) ?? throw new IOException("the server closed the connection");
            Assert.StartsWith(expectedCode, line, StringComparison.Ordinal);
            if (line.Length < 4 || line[3] == ' ')
            {
                return;
            }
        }
    }
}
