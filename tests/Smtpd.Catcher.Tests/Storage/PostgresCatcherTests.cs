using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using MailKit.Net.Smtp;
using MimeKit;
using Smtpd.Catcher.Mailboxes;
using Smtpd.Catcher.Tests.Http;
using Smtpd.Catcher.Tests.Http.Live;
using Smtpd.TestSupport;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The catcher on PostgreSQL end to end: MailKit over SMTP, HttpClient over the API, a real server
/// (<c>SMTPD_TEST_POSTGRES</c>; skipped without it outside CI).
/// </summary>
public sealed class PostgresCatcherTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>How long a message one instance committed may take to reach another instance's live clients (NOTIFY, then a read).</summary>
    private static readonly TimeSpan CrossInstance = TimeSpan.FromSeconds(10);

    private static Task<CatcherHost> StartAsync(string connectionString, Action<CatcherOptions>? configure = null) => CatcherHost.StartAsync(o =>
    {
        o.DatabasePath = null;
        o.DatabaseConnectionString = connectionString;
        configure?.Invoke(o);
    });

    [Fact]
    public async Task AMessageSentWithMailKitIsListedByTheApi()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var host = await StartAsync(database);

        var id = await host.SendSimpleAsync("On PostgreSQL", text: "stored in bytea chunks");

        var list = await host.GetJsonAsync("/api/v1/messages");
        var message = Assert.Single(list.GetProperty("messages").EnumerateArray());
        Assert.Equal(id, message.GetProperty("ID").GetString());
        Assert.Equal("On PostgreSQL", message.GetProperty("Subject").GetString());
        var search = await host.GetJsonAsync("/api/v1/search?query=chunks");
        Assert.Equal(1, search.GetProperty("messages_count").GetInt32());
        var raw = await host.Client.GetStringAsync($"/api/v1/message/{id}/raw", Ct);
        Assert.Contains("stored in bytea chunks", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WhileTheDatabaseIsDownSmtpAnswers451AndTheApi503AndBothRecoverWithoutARestart()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var host = await StartAsync(database);
        await host.SendSimpleAsync("before");

        await StoreBackend.SetAvailableAsync(database, available: false);
        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => host.SendSimpleAsync("during"));
        Assert.Equal(451, (int)refused.StatusCode);
        using (var response = await host.Client.GetAsync("/api/v1/messages", Ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("PostgreSQL", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        await StoreBackend.SetAvailableAsync(database, available: true);
        await host.SendSimpleAsync("after");
        var list = await host.GetJsonAsync("/api/v1/messages");
        Assert.Equal(["after", "before"], list.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("Subject").GetString()));
    }

    [Fact]
    public async Task AMessageStoredByOneInstanceEndsAnotherInstancesWait()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var a = await StartAsync(database);
        await using var b = await StartAsync(database);

        // B waits first: the store has nothing yet, so only A's NOTIFY can end the wait.
        var wait = b.Client.GetAsync("/api/v1/wait?query=subject:relayed&timeout=20s", Ct);
        var id = await a.SendSimpleAsync("relayed through A");

        using var response = await wait;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains($"\"ID\":\"{id}\"", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        // Tags and read state are shared too: B sees what A's API changed.
        using var put = await a.Client.PutAsync("/api/v1/tags", JsonContent($$"""{"IDs":["{{id}}"],"Tags":["shared"]}"""), Ct);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var seen = await b.GetJsonAsync("/api/v1/search?query=tag:shared");
        Assert.Equal(1, seen.GetProperty("messages_count").GetInt32());
    }

    [Fact]
    public async Task AMessageOneInstanceAcceptsReachesTheWebSocketAndSseClientsOfAnother()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var a = await StartAsync(database);
        await using var b = await StartAsync(database);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new UriBuilder(new Uri(b.Client.BaseAddress!, "api/events")) { Scheme = "ws" }.Uri, Ct);
        // The stats frame comes once the socket is subscribed: nothing published after it can be missed.
        Assert.Equal("stats", (await LiveClients.NextFrameAsync(socket, skipStats: false)).GetProperty("Type").GetString());
        using var sse = await b.Client.GetAsync("api/v1/events", HttpCompletionOption.ResponseHeadersRead, Ct);
        var events = new LiveClients.SseReader(await sse.Content.ReadAsStreamAsync(Ct));
        Assert.Equal("stats", (await events.NextAsync(skipStats: false)).Type);

        var id = await a.SendSimpleAsync("accepted by A");

        var frame = await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct);
        Assert.Equal("new", frame.GetProperty("Type").GetString());
        Assert.Equal(id, frame.GetProperty("Data").GetProperty("ID").GetString());
        Assert.Equal("accepted by A", frame.GetProperty("Data").GetProperty("Subject").GetString());
        var created = await events.NextAsync().WaitAsync(CrossInstance, Ct);
        Assert.Equal("new", created.Type);
        using (var data = JsonDocument.Parse(created.Data))
        {
            Assert.Equal(id, data.RootElement.GetProperty("ID").GetString());
        }

        // B's own acceptances are announced once on B, not again when its own NOTIFY comes back.
        var own = await b.SendSimpleAsync("accepted by B");
        var next = await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct);
        Assert.Equal(own, next.GetProperty("Data").GetProperty("ID").GetString());
        // A duplicate of B's own message would come before A's next one.
        var third = await a.SendSimpleAsync("accepted by A again");
        Assert.Equal(third, (await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct)).GetProperty("Data").GetProperty("ID").GetString());
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Ct);
    }

    [Fact]
    public async Task ReadTagAndDeleteChangesMadeThroughOneInstanceReachAnotherInstancesWebSocketOnce()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var a = await StartAsync(database);
        await using var b = await StartAsync(database);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new UriBuilder(new Uri(b.Client.BaseAddress!, "api/events")) { Scheme = "ws" }.Uri, Ct);
        Assert.Equal("stats", (await LiveClients.NextFrameAsync(socket, skipStats: false)).GetProperty("Type").GetString());
        var id = await a.SendSimpleAsync("changed through A");
        Assert.Equal("new", (await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct)).GetProperty("Type").GetString());

        using (var read = await a.Client.PutAsync("/api/v1/messages", JsonContent($$"""{"IDs":["{{id}}"],"Read":true}"""), Ct))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, read.StatusCode);
        }

        var update = await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct);
        Assert.Equal("update", update.GetProperty("Type").GetString());
        Assert.Equal(id, update.GetProperty("Data").GetProperty("ID").GetString());
        Assert.True(update.GetProperty("Data").GetProperty("Read").GetBoolean());

        using (var tag = await a.Client.PutAsync("/api/v1/tags", JsonContent($$"""{"IDs":["{{id}}"],"Tags":["shared"]}"""), Ct))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, tag.StatusCode);
        }

        var tagged = await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct);
        Assert.Equal("update", tagged.GetProperty("Type").GetString());
        Assert.Equal(["shared"], tagged.GetProperty("Data").GetProperty("Tags").EnumerateArray().Select(t => t.GetString()));

        using (var delete = await a.Client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/v1/messages") { Content = JsonContent($$"""{"IDs":["{{id}}"]}""") }, Ct))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, delete.StatusCode);
        }

        var deleted = await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct);
        Assert.Equal("delete", deleted.GetProperty("Type").GetString());
        Assert.Equal(id, deleted.GetProperty("Data").GetProperty("ID").GetString());

        // B's own change is announced once on B: a copy coming back by NOTIFY would arrive before A's next message.
        var own = await b.SendSimpleAsync("changed through B");
        Assert.Equal("new", (await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct)).GetProperty("Type").GetString());
        using (var read = await b.Client.PutAsync("/api/v1/messages", JsonContent($$"""{"IDs":["{{own}}"],"Read":true}"""), Ct))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, read.StatusCode);
        }

        Assert.Equal("update", (await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct)).GetProperty("Type").GetString());
        var last = await a.SendSimpleAsync("after B's change");
        var next = await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct);
        Assert.Equal("new", next.GetProperty("Type").GetString());
        Assert.Equal(last, next.GetProperty("Data").GetProperty("ID").GetString());
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Ct);
    }

    [Fact]
    public async Task ADeleteOfMoreMessagesThanOneNotifyHoldsReachesAnotherInstanceAsEveryDeleteEvent()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var a = await StartAsync(database);
        // B's client may get the 400 events faster than it reads them: a queue that holds them all, so the test
        // checks the NOTIFYs, not the slow-client rule (which closes a socket whose queue of 256 fills).
        await using var b = await StartAsync(database, o => o.Live.SubscriberQueueCapacity = 1000);
        // About 45 octets per delete in a NOTIFY payload of at most 7,500: 400 deletes need three NOTIFYs.
        const int count = 400;
        using (var smtp = new MailKit.Net.Smtp.SmtpClient())
        {
            var endpoint = a.Catcher.Listeners[0].EndPoint;
            await smtp.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, MailKit.Security.SecureSocketOptions.None, Ct);
            for (var i = 0; i < count; i++)
            {
                await smtp.SendAsync(Message($"bulk {i}", "bob@example.com"), Ct);
            }

            await smtp.DisconnectAsync(true, Ct);
        }

        var ids = await IdsAsync(a, $"/api/v1/messages?limit={count}");
        Assert.Equal(count, ids.Count);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new UriBuilder(new Uri(b.Client.BaseAddress!, "api/events")) { Scheme = "ws" }.Uri, Ct);
        Assert.Equal("stats", (await LiveClients.NextFrameAsync(socket, skipStats: false)).GetProperty("Type").GetString());

        var body = "{\"IDs\":[" + string.Join(",", ids.Select(id => $"\"{id}\"")) + "]}";
        using (var delete = await a.Client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/v1/messages") { Content = JsonContent(body) }, Ct))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, delete.StatusCode);
        }

        var deleted = new HashSet<string?>();
        while (deleted.Count < count)
        {
            var frame = await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct);
            Assert.Equal("delete", frame.GetProperty("Type").GetString());
            Assert.True(deleted.Add(frame.GetProperty("Data").GetProperty("ID").GetString()), "a delete event came twice");
        }

        Assert.Equal(ids.ToHashSet(), deleted);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Ct);
    }

    [Fact]
    public async Task APruneByAnotherInstancesRetentionReachesThisInstancesWebSocket()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var a = await StartAsync(database, o => o.Retain = 2);
        // B keeps every message itself and sends none: a prune on its socket can only be A's, through NOTIFY.
        await using var b = await StartAsync(database);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new UriBuilder(new Uri(b.Client.BaseAddress!, "api/events")) { Scheme = "ws" }.Uri, Ct);
        Assert.Equal("stats", (await LiveClients.NextFrameAsync(socket, skipStats: false)).GetProperty("Type").GetString());

        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await a.SendSimpleAsync($"kept for a while {i}"));
        }

        var types = new List<string?>();
        while (!types.Contains("prune"))
        {
            types.Add((await LiveClients.NextFrameAsync(socket).WaitAsync(CrossInstance, Ct)).GetProperty("Type").GetString());
        }

        Assert.Equal(ids.Skip(1).Reverse(), await IdsAsync(b, "/api/v1/messages"));
    }

    [Fact]
    public async Task MailboxesOnPostgresRouteOnceAndDeleteWithinTheMailboxSeenAlikeByBothInstances()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        Action<CatcherOptions> mailboxes = o =>
        {
            o.Mailboxes.Add(MailboxRule.Parse("dev=to:@dev.example"));
            o.Mailboxes.Add(MailboxRule.Parse("alice=to:alice@example.com"));
        };
        await using var a = await StartAsync(database, mailboxes);
        await using var b = await StartAsync(database, o =>
        {
            mailboxes(o);
            o.Pop3.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
            o.Pop3.Users["dev"] = "secret";
        });
        using var devSocket = new ClientWebSocket();
        await devSocket.ConnectAsync(new UriBuilder(new Uri(b.Client.BaseAddress!, "api/events?mailbox=dev")) { Scheme = "ws" }.Uri, Ct);
        Assert.Equal("stats", (await LiveClients.NextFrameAsync(devSocket, skipStats: false)).GetProperty("Type").GetString());
        // alice is only in the envelope (a Bcc): routing reads the envelope.
        var both = await a.SendAsync(Message("Both", "bob@dev.example"), ["bob@dev.example", "alice@example.com"]);
        var devOnly = await a.SendSimpleAsync("Dev only", to: "carol@DEV.example");
        var neither = await a.SendSimpleAsync("Neither", to: "dan@else.example");

        Assert.Equal([devOnly, both], await IdsAsync(b, "/api/v1/messages?mailbox=dev"));
        // B's dev WebSocket gets A's dev messages: the memberships come from the store with the NOTIFY's ids.
        var announced = new List<string?>();
        for (var i = 0; i < 2; i++)
        {
            announced.Add((await LiveClients.NextFrameAsync(devSocket).WaitAsync(CrossInstance, Ct)).GetProperty("Data").GetProperty("ID").GetString());
        }

        Assert.Equal([both, devOnly], announced);
        Assert.Equal([both], await IdsAsync(b, "/api/v1/search?mailbox=alice&query=both"));
        Assert.Empty(await IdsAsync(b, "/api/v1/search?mailbox=alice&query=neither"));
        var listed = (await b.GetJsonAsync("/api/v1/mailboxes")).GetProperty("Mailboxes").EnumerateArray().ToList();
        Assert.Equal([("alice", 1), ("dev", 2)], listed.Select(m => (m.GetProperty("Name").GetString(), m.GetProperty("Total").GetInt32())));

        // POP3 on B serves the dev mailbox from PostgreSQL, and DELE there takes messages out of dev only.
        using (var pop3 = new MailKit.Net.Pop3.Pop3Client())
        {
            var endPoint = b.Catcher.Pop3EndPoints[0];
            await pop3.ConnectAsync(endPoint.Address.ToString(), endPoint.Port, MailKit.Security.SecureSocketOptions.None, Ct);
            await pop3.AuthenticateAsync("dev", "secret", Ct);
            Assert.Equal(2, pop3.Count);
            Assert.Equal("Both", (await pop3.GetMessageAsync(0, Ct)).Subject);
            await pop3.DeleteMessageAsync(0, Ct);
            await pop3.DisconnectAsync(true, Ct);
        }

        Assert.Equal([devOnly], await IdsAsync(a, "/api/v1/messages?mailbox=dev"));
        Assert.Equal([both], await IdsAsync(a, "/api/v1/messages?mailbox=alice"));
        using (var delete = await b.Client.DeleteAsync("/api/v1/messages?mailbox=dev", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        // The dev-only message was in no other mailbox, so it left the store; the shared one stays for alice.
        Assert.Empty(await IdsAsync(a, "/api/v1/messages?mailbox=dev"));
        Assert.Equal([neither, both], await IdsAsync(a, "/api/v1/messages"));
    }

    [Fact]
    public async Task MetricsOnPostgresGaugeTheSharedStoreAndCountOnlyThisInstancesMessages()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var a = await StartAsync(database, o => o.Metrics = true);
        await using var b = await StartAsync(database, o => o.Metrics = true);
        await a.SendSimpleAsync("one");
        await a.SendSimpleAsync("two");
        await b.SendSimpleAsync("three");

        var metrics = PrometheusText.Parse(await b.Client.GetStringAsync("/metrics", Ct));

        Assert.Equal(1, metrics.Value("smtpd_catcher_messages_stored_total"));
        Assert.Equal(3, metrics.Value("smtpd_catcher_store_messages"));
        Assert.Equal(3, metrics.Value("smtpd_catcher_store_unread"));
        Assert.True(metrics.Value("smtpd_catcher_store_size_bytes") > 0);
        Assert.Equal(0, metrics.Value("smtpd_catcher_queue_length", ("queue", "store")));
    }

    private static MimeMessage Message(string subject, string to)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@example.com"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Hello" };
        return message;
    }

    private static async Task<List<string?>> IdsAsync(CatcherHost host, string path) =>
        (await host.GetJsonAsync(path)).GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()).ToList();

    private static StringContent JsonContent(string json) => new(json, System.Text.Encoding.UTF8, "application/json");
}
