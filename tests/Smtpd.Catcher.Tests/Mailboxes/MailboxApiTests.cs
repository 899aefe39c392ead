using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using MailKit.Net.Smtp;
using Microsoft.Data.Sqlite;
using MimeKit;
using Smtpd.Catcher.Mailboxes;
using Smtpd.Catcher.Tests.Http;
using Smtpd.Catcher.Tests.Http.Live;

namespace Smtpd.Catcher.Tests.Mailboxes;

/// <summary>
/// Mailboxes end to end: MailKit sends to a catcher with <c>--mailbox</c> rules, and the HTTP API, the live events and
/// the store show each mailbox, store each message once, and keep each mailbox's deletes and retention to itself.
/// </summary>
public sealed class MailboxApiTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AMessageIsRoutedByRecipientIncludingBccAndStoredOnceForTwoMailboxes()
    {
        await using var host = await StartAsync();
        // alice is only a Bcc recipient: she is in the envelope, not in any header.
        var both = await host.SendAsync(Message("For dev and alice", "bob@dev.example"), ["bob@dev.example", "alice@example.com"]);
        var devOnly = await host.SendSimpleAsync("Dev only", to: "carol@DEV.example");
        var neither = await host.SendSimpleAsync("Nobody's", to: "dan@else.example");

        Assert.Equal([devOnly, both], await IdsAsync(host, "/api/v1/messages?mailbox=dev"));
        Assert.Equal([both], await IdsAsync(host, "/api/v1/messages?mailbox=ALICE"));
        // The default mailbox shows what Mailpit would: everything.
        Assert.Equal([neither, devOnly, both], await IdsAsync(host, "/api/v1/messages"));

        var dev = await host.GetJsonAsync("/api/v1/messages?mailbox=dev");
        Assert.Equal((2, 2, 2), (dev.GetProperty("total").GetInt32(), dev.GetProperty("unread").GetInt32(), dev.GetProperty("messages_count").GetInt32()));

        // Stored once: one row of content and two rows of membership.
        using var connection = Open(host);
        Assert.Equal(3L, Scalar(connection, "SELECT count(*) FROM messages"));
        Assert.Equal(1L, Scalar(connection, $"SELECT count(DISTINCT message_id) FROM message_chunks WHERE message_id = {both}"));
        Assert.Equal(["alice", "dev"], Strings(connection, $"SELECT name FROM message_mailboxes WHERE message_id = {both} ORDER BY name"));
    }

    [Fact]
    public async Task AMessageIsRoutedByAuthUserAndByListenerPort()
    {
        var port = FreePort();
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.AuthAny = true;
            o.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, port)));
            o.Mailboxes.Add(MailboxRule.Parse("ci=user:ci-bot"));
            o.Mailboxes.Add(MailboxRule.Parse($"ops=port:{port}"));
        });
        var byUser = await SendAsync(host.Catcher.Listeners[0].EndPoint.Port, "As ci-bot", user: "ci-bot");
        var byOtherUser = await SendAsync(host.Catcher.Listeners[0].EndPoint.Port, "As someone", user: "someone");
        var byPort = await SendAsync(port, "On the ops port");

        Assert.Equal([byUser], await IdsAsync(host, "/api/v1/messages?mailbox=ci"));
        Assert.Equal([byPort], await IdsAsync(host, "/api/v1/messages?mailbox=ops"));
        Assert.Equal([byPort, byOtherUser, byUser], await IdsAsync(host, "/api/v1/messages"));
        using var connection = Open(host);
        Assert.Equal((long)port, Scalar(connection, $"SELECT listener_port FROM messages WHERE id = {byPort}"));
    }

    [Fact]
    public async Task SearchLatestInfoAndTheMailboxListStayInTheMailbox()
    {
        await using var host = await StartAsync();
        var devWelcome = await host.SendSimpleAsync("Welcome dev", to: "bob@dev.example");
        var otherWelcome = await host.SendSimpleAsync("Welcome other", to: "dan@else.example");
        var devLater = await host.SendSimpleAsync("Later", to: "bob@dev.example");

        Assert.Equal([devWelcome], await IdsAsync(host, "/api/v1/search?mailbox=dev&query=welcome"));
        Assert.Equal([otherWelcome, devWelcome], await IdsAsync(host, "/api/v1/search?query=welcome"));
        var search = await host.GetJsonAsync("/api/v1/search?mailbox=dev&query=welcome");
        // total counts the mailbox, messages_count the search within it.
        Assert.Equal((2, 1), (search.GetProperty("total").GetInt32(), search.GetProperty("messages_count").GetInt32()));

        Assert.Equal(devWelcome, (await host.GetJsonAsync("/api/v1/message/latest?mailbox=dev&query=welcome&read=false")).GetProperty("ID").GetString());
        Assert.Equal(devLater, (await host.GetJsonAsync("/api/v1/message/latest?mailbox=dev&read=false")).GetProperty("ID").GetString());
        using (var empty = await host.Client.GetAsync("/api/v1/message/latest?mailbox=alice", Cancel))
        {
            Assert.Equal(HttpStatusCode.NotFound, empty.StatusCode);
        }

        // A message outside the mailbox is not found through it.
        using (var outside = await host.Client.GetAsync($"/api/v1/message/{otherWelcome}?mailbox=dev", Cancel))
        {
            Assert.Equal(HttpStatusCode.NotFound, outside.StatusCode);
        }

        var info = await host.GetJsonAsync("/api/v1/info?mailbox=dev");
        Assert.Equal(2, info.GetProperty("Messages").GetInt32());
        Assert.Equal(3, (await host.GetJsonAsync("/api/v1/info")).GetProperty("Messages").GetInt32());

        var mailboxes = await host.GetJsonAsync("/api/v1/mailboxes");
        Assert.Equal(3, mailboxes.GetProperty("Total").GetInt32());
        var listed = mailboxes.GetProperty("Mailboxes").EnumerateArray().ToList();
        Assert.Equal(["alice", "dev"], listed.Select(m => m.GetProperty("Name").GetString()));
        Assert.Equal((0, 2), (listed[0].GetProperty("Total").GetInt32(), listed[1].GetProperty("Total").GetInt32()));
        Assert.Equal(["to:@dev.example"], listed[1].GetProperty("Rules").EnumerateArray().Select(r => r.GetString()));
    }

    [Theory]
    [InlineData("/api/v1/messages?mailbox=nobody")]
    [InlineData("/api/v1/search?query=x&mailbox=nobody")]
    [InlineData("/api/v1/message/latest?mailbox=nobody")]
    [InlineData("/api/v1/info?mailbox=nobody")]
    [InlineData("/api/v1/wait?mailbox=nobody&timeout=0")]
    [InlineData("/api/v1/events?mailbox=nobody")]
    public async Task AnUnknownMailboxIs404WithAReason(string path)
    {
        await using var host = await StartAsync();
        using var response = await host.Client.GetAsync(path, Cancel);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("no mailbox named \"nobody\"", await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeletingAllInAMailboxTakesItsMessagesOutOfItAndKeepsThoseOtherMailboxesHold()
    {
        await using var host = await StartAsync();
        var both = await host.SendAsync(Message("Both", "bob@dev.example"), ["bob@dev.example", "alice@example.com"]);
        var devOnly = await host.SendSimpleAsync("Dev only", to: "bob@dev.example");
        var neither = await host.SendSimpleAsync("Neither", to: "dan@else.example");

        using (var delete = await host.Client.DeleteAsync("/api/v1/messages?mailbox=dev", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        Assert.Empty(await IdsAsync(host, "/api/v1/messages?mailbox=dev"));
        Assert.Equal([both], await IdsAsync(host, "/api/v1/messages?mailbox=alice"));
        // The dev-only message was in no other mailbox, so it left the store; the untouched one stays.
        Assert.Equal([neither, both], await IdsAsync(host, "/api/v1/messages"));
        using var connection = Open(host);
        Assert.Equal(0L, Scalar(connection, $"SELECT count(*) FROM message_chunks WHERE message_id = {devOnly}"));
    }

    [Fact]
    public async Task ReadStatusAndSearchDeletesWithAMailboxChangeOnlyItsMessages()
    {
        await using var host = await StartAsync();
        var dev = await host.SendSimpleAsync("Report dev", to: "bob@dev.example");
        var other = await host.SendSimpleAsync("Report other", to: "dan@else.example");

        using (var read = await host.Client.PutAsync("/api/v1/messages?mailbox=dev", MessagesApiTests.JsonContent($"{{\"IDs\":[\"{dev}\",\"{other}\"],\"Read\":true}}"), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        }

        var all = await host.GetJsonAsync("/api/v1/messages");
        Assert.Equal(1, all.GetProperty("unread").GetInt32());

        using (var delete = await host.Client.DeleteAsync("/api/v1/search?mailbox=dev&query=report", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        Assert.Equal([other], await IdsAsync(host, "/api/v1/messages"));
    }

    [Fact]
    public async Task TheEventStreamOfAMailboxCarriesOnlyItsNewMessages()
    {
        await using var host = await StartAsync();
        using var response = await host.Client.GetAsync("/api/v1/events?mailbox=dev", HttpCompletionOption.ResponseHeadersRead, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var reader = new LiveClients.SseReader(await response.Content.ReadAsStreamAsync(Cancel));
        await host.SendSimpleAsync("Not for dev", to: "dan@else.example");
        var id = await host.SendSimpleAsync("For dev", to: "bob@dev.example");

        var first = await reader.NextAsync();
        Assert.Equal("new", first.Type);
        Assert.Equal(id, JsonDocument.Parse(first.Data).RootElement.GetProperty("ID").GetString());
    }

    [Fact]
    public async Task TheWebSocketOfAMailboxCarriesOnlyItsNewMessagesAndItsOwnDeletes()
    {
        await using var host = await StartAsync();
        var both = await host.SendAsync(Message("Both", "bob@dev.example"), ["bob@dev.example", "alice@example.com"]);
        using var devSocket = await ConnectAsync(host, "?mailbox=dev");
        using var allSocket = await ConnectAsync(host, string.Empty);
        await host.SendSimpleAsync("Not for dev", to: "dan@else.example");
        var devId = await host.SendSimpleAsync("For dev", to: "bob@dev.example");
        // Taken out of dev, still stored for alice: dev's view sees the delete, the default view does not.
        using (var delete = await host.Client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/v1/messages?mailbox=dev")
        {
            Content = MessagesApiTests.JsonContent($"{{\"IDs\":[\"{both}\"]}}"),
        }, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        var sentToAll = await host.SendSimpleAsync("Last", to: "dan@else.example");

        var devFrames = new[] { await LiveClients.NextFrameAsync(devSocket), await LiveClients.NextFrameAsync(devSocket) };
        Assert.Equal(("new", devId), (devFrames[0].GetProperty("Type").GetString(), devFrames[0].GetProperty("Data").GetProperty("ID").GetString()));
        Assert.Equal(("delete", both), (devFrames[1].GetProperty("Type").GetString(), devFrames[1].GetProperty("Data").GetProperty("ID").GetString()));

        var allTypes = new List<(string?, string?)>();
        for (var i = 0; i < 3; i++)
        {
            var frame = await LiveClients.NextFrameAsync(allSocket);
            allTypes.Add((frame.GetProperty("Type").GetString(), frame.GetProperty("Data").GetProperty("ID").GetString()));
        }

        Assert.Equal(["new", "new", "new"], allTypes.Select(t => t.Item1));
        Assert.Equal(sentToAll, allTypes[2].Item2);
    }

    [Fact]
    public async Task TheWaitOfAMailboxAnswersOnlyForAMessageOfThatMailbox()
    {
        await using var host = await StartAsync();
        await host.SendSimpleAsync("Before, elsewhere", to: "dan@else.example");
        var waiting = host.Client.GetAsync("/api/v1/wait?mailbox=dev&timeout=30s", Cancel);
        await host.SendSimpleAsync("Meanwhile, elsewhere", to: "dan@else.example");
        var id = await host.SendSimpleAsync("For dev", to: "bob@dev.example");

        using var found = await waiting;
        Assert.Equal(HttpStatusCode.OK, found.StatusCode);
        var answer = JsonDocument.Parse(await found.Content.ReadAsStringAsync(Cancel)).RootElement;
        Assert.Equal([id], answer.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()));
        Assert.Equal(1, answer.GetProperty("total").GetInt32());

        using var none = await host.Client.GetAsync("/api/v1/wait?mailbox=alice&timeout=0", Cancel);
        Assert.Equal(HttpStatusCode.RequestTimeout, none.StatusCode);
    }

    [Fact]
    public async Task KeepBoundsAMailboxAndAMessageStaysStoredWhileAnotherMailboxHoldsIt()
    {
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Mailboxes.Add(MailboxRule.Parse("dev=to:@dev.example"));
            o.Mailboxes.Add(MailboxRule.Parse("dev=keep:2"));
            o.Mailboxes.Add(MailboxRule.Parse("alice=to:alice@example.com"));
        });
        var both = await host.SendAsync(Message("Both", "bob@dev.example"), ["bob@dev.example", "alice@example.com"]);
        var second = await host.SendSimpleAsync("Second", to: "bob@dev.example");
        var third = await host.SendSimpleAsync("Third", to: "bob@dev.example");
        var fourth = await host.SendSimpleAsync("Fourth", to: "bob@dev.example");
        var neither = await host.SendSimpleAsync("Neither", to: "dan@else.example");

        Assert.Equal([fourth, third], await IdsAsync(host, "/api/v1/messages?mailbox=dev"));
        Assert.Equal([both], await IdsAsync(host, "/api/v1/messages?mailbox=alice"));
        // The second left dev and was in no other mailbox: gone. The first is still alice's. Unrouted mail is
        // bounded only by the store-wide retention.
        Assert.Equal([neither, fourth, third, both], await IdsAsync(host, "/api/v1/messages"));
        using var connection = Open(host);
        Assert.Equal(0L, Scalar(connection, $"SELECT count(*) FROM message_chunks WHERE message_id = {second}"));
    }

    [Fact]
    public async Task AVersion4StoreIsUpgradedAndItsMessagesStayInTheDefaultMailboxOnly()
    {
        var directory = Directory.CreateTempSubdirectory("smtpd-mailbox-v4-").FullName;
        var database = Path.Combine(directory, "store.db");
        try
        {
            string old;
            await using (var host = await CatcherHost.StartAsync(o => o.DatabasePath = database))
            {
                old = await host.SendSimpleAsync("Old dev", to: "bob@dev.example");
            }

            // Back to version 4 as it was: no listener_port column, no message_mailboxes table.
            using (var connection = new SqliteConnection($"Data Source={database};Pooling=False"))
            {
                connection.Open();
                Execute(connection, "DROP TABLE message_mailboxes; ALTER TABLE messages DROP COLUMN listener_port; PRAGMA user_version = 4;");
            }

            await using (var host = await CatcherHost.StartAsync(o =>
            {
                o.DatabasePath = database;
                o.Mailboxes.Add(MailboxRule.Parse("dev=to:@dev.example"));
            }))
            {
                using (var connection = new SqliteConnection($"Data Source={database};Mode=ReadOnly;Pooling=False"))
                {
                    connection.Open();
                    Assert.Equal(5L, Scalar(connection, "PRAGMA user_version"));
                }

                var fresh = await host.SendSimpleAsync("New dev", to: "bob@dev.example");
                // Routing is decided once, at ingest: the old message was stored before the mailbox existed.
                Assert.Equal([fresh], await IdsAsync(host, "/api/v1/messages?mailbox=dev"));
                Assert.Equal([fresh, old], await IdsAsync(host, "/api/v1/messages"));
                Assert.Equal(["Old dev"], (await host.GetJsonAsync("/api/v1/search?query=" + Uri.EscapeDataString("subject:\"Old dev\""))).GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("Subject").GetString()));
            }
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task APop3UserNamedLikeAMailboxGetsThatMailboxAndDeleTakesMessagesOutOfItOnly()
    {
        await using var host = await CatcherHost.StartAsync(o =>
        {
            o.Mailboxes.Add(MailboxRule.Parse("dev=to:@dev.example"));
            o.Mailboxes.Add(MailboxRule.Parse("alice=to:alice@example.com"));
            o.Pop3.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            o.Pop3.Users["dev"] = "secret";
            o.Pop3.Users["carol"] = "secret";
        });
        var both = await host.SendAsync(Message("Both", "bob@dev.example"), ["bob@dev.example", "alice@example.com"]);
        var devOnly = await host.SendSimpleAsync("Dev only", to: "bob@dev.example");
        await host.SendSimpleAsync("Neither", to: "dan@else.example");

        using (var dev = await Pop3Async(host, "dev"))
        {
            Assert.Equal(2, dev.Count);
            Assert.Equal(["Both", "Dev only"], [(await dev.GetMessageAsync(0, Cancel)).Subject, (await dev.GetMessageAsync(1, Cancel)).Subject]);
            await dev.DeleteMessagesAsync([0, 1], Cancel);
            await dev.DisconnectAsync(true, Cancel);
        }

        // Any other user's maildrop is every message, as without mailboxes.
        using (var carol = await Pop3Async(host, "carol"))
        {
            Assert.Equal(2, carol.Count);
            await carol.DisconnectAsync(true, Cancel);
        }

        Assert.Empty(await IdsAsync(host, "/api/v1/messages?mailbox=dev"));
        Assert.Equal([both], await IdsAsync(host, "/api/v1/messages?mailbox=alice"));
        Assert.DoesNotContain(devOnly, await IdsAsync(host, "/api/v1/messages"));
    }

    private static async Task<MailKit.Net.Pop3.Pop3Client> Pop3Async(CatcherHost host, string user)
    {
        var client = new MailKit.Net.Pop3.Pop3Client();
        var endPoint = host.Catcher.Pop3EndPoints[0];
        await client.ConnectAsync(endPoint.Address.ToString(), endPoint.Port, MailKit.Security.SecureSocketOptions.None, Cancel);
        await client.AuthenticateAsync(user, "secret", Cancel);
        return client;
    }

    internal static Task<CatcherHost> StartAsync() => CatcherHost.StartAsync(o =>
    {
        o.Mailboxes.Add(MailboxRule.Parse("dev=to:@dev.example"));
        o.Mailboxes.Add(MailboxRule.Parse("alice=to:alice@example.com"));
    });

    private static MimeMessage Message(string subject, string to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@example.com"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Hello" };
        return message;
    }

    private static async Task<string> SendAsync(int port, string subject, string? user = null)
    {
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None, Cancel);
        if (user is not null)
        {
            await smtp.AuthenticateAsync(user, "secret", Cancel);
        }

        var reply = await smtp.SendAsync(Message(subject, "someone@example.com"), Cancel);
        await smtp.DisconnectAsync(true, Cancel);
        return reply[(reply.LastIndexOf(' ') + 1)..];
    }

    private static async Task<List<string?>> IdsAsync(CatcherHost host, string path) =>
        (await host.GetJsonAsync(path)).GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()).ToList();

    private static async Task<System.Net.WebSockets.ClientWebSocket> ConnectAsync(CatcherHost host, string query)
    {
        var socket = new System.Net.WebSockets.ClientWebSocket();
        var uri = new UriBuilder(new Uri(host.Client.BaseAddress!, "api/events" + query)) { Scheme = "ws" }.Uri;
        await socket.ConnectAsync(uri, Cancel);
        return socket;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static SqliteConnection Open(CatcherHost host)
    {
        var connection = new SqliteConnection($"Data Source={host.DatabasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        return connection;
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static List<string> Strings(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var values = new List<string>();
        while (reader.Read())
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }
}
