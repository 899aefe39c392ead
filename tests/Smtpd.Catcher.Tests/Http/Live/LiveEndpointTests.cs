using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using MailKit.Net.Smtp;
using Smtpd.Catcher.Http.Live;

namespace Smtpd.Catcher.Tests.Http.Live;

public sealed class LiveEndpointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AWebSocketClientSeesNewUpdateAndDeleteInOrder()
    {
        await using var host = await LiveHost.StartAsync();
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(host.BaseAddress.ToString().Replace("http", "ws", StringComparison.Ordinal) + "api/events"), Ct);
        // The first frame on connect is Mailpit's stats.
        var stats = await LiveClients.NextFrameAsync(socket, skipStats: false);
        Assert.Equal("stats", stats.GetProperty("Type").GetString());
        Assert.Equal(CatcherEvents.Version, stats.GetProperty("Data").GetProperty("Version").GetString());

        var id = await host.SendAsync("Over the socket");
        // What the REST routes publish when a message is read and deleted.
        host.Hub.PublishReadState(id, read: true);
        host.Hub.PublishDeleted(id);

        var created = await LiveClients.NextFrameAsync(socket);
        Assert.Equal("new", created.GetProperty("Type").GetString());
        Assert.Equal(id, created.GetProperty("Data").GetProperty("ID").GetString());
        Assert.Equal("Over the socket", created.GetProperty("Data").GetProperty("Subject").GetString());
        var updated = await LiveClients.NextFrameAsync(socket);
        Assert.Equal("update", updated.GetProperty("Type").GetString());
        Assert.Equal($$"""{"ID":"{{id}}","Read":true}""", updated.GetProperty("Data").GetRawText());
        var deleted = await LiveClients.NextFrameAsync(socket);
        Assert.Equal("delete", deleted.GetProperty("Type").GetString());
        Assert.Equal($$"""{"ID":"{{id}}"}""", deleted.GetProperty("Data").GetRawText());

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Ct);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Fact]
    public async Task AnSseClientSeesNewUpdateAndDeleteInOrderWithIncreasingIds()
    {
        await using var host = await LiveHost.StartAsync();
        using var response = await host.Http.GetAsync("api/v1/events", HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains("no-cache", response.Headers.CacheControl!.ToString(), StringComparison.Ordinal);
        var events = new LiveClients.SseReader(await response.Content.ReadAsStreamAsync(Ct));

        var id = await host.SendAsync("Over SSE");
        host.Hub.PublishTags(id, ["urgent"]);
        host.Hub.PublishDeleted(id);

        var created = await events.NextAsync();
        Assert.Equal("new", created.Type);
        using (var data = JsonDocument.Parse(created.Data))
        {
            Assert.Equal(id, data.RootElement.GetProperty("ID").GetString());
        }

        var updated = await events.NextAsync();
        Assert.Equal(("update", $$"""{"ID":"{{id}}","Tags":["urgent"]}"""), (updated.Type, updated.Data));
        var deleted = await events.NextAsync();
        Assert.Equal(("delete", $$"""{"ID":"{{id}}"}"""), (deleted.Type, deleted.Data));
        Assert.True(long.Parse(created.Id!, System.Globalization.CultureInfo.InvariantCulture) < long.Parse(updated.Id!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(long.Parse(updated.Id!, System.Globalization.CultureInfo.InvariantCulture) < long.Parse(deleted.Id!, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task AnSseClientReconnectingWithLastEventIdGetsWhatItMissed()
    {
        await using var host = await LiveHost.StartAsync();
        host.Hub.PublishDeleted("1");
        var seen = host.Hub.LastSequence;
        host.Hub.PublishDeleted("2");
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/events");
        request.Headers.Add("Last-Event-ID", seen.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var response = await host.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        var events = new LiveClients.SseReader(await response.Content.ReadAsStreamAsync(Ct));
        var missed = await events.NextAsync();
        Assert.Equal(("delete", """{"ID":"2"}"""), (missed.Type, missed.Data));
    }

    [Fact]
    public async Task AStreamBeyondTheSubscriberLimitGets503WithAReason()
    {
        await using var host = await LiveHost.StartAsync(o => o.MaxSubscribers = 1);
        using var first = await host.Http.GetAsync("api/v1/events", HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using var second = await host.Http.GetAsync("api/v1/events", Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        Assert.Equal("too many event clients: at most 1 may listen at once\n", await second.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task APlainGetOfTheWebSocketRouteGets400NamingTheSseAlternative()
    {
        await using var host = await LiveHost.StartAsync();
        using var response = await host.Http.GetAsync("api/events", Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("/api/v1/events", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoppingTheServerClosesWebSocketsWithGoingAwayAndEndsSseStreamsWithAReason()
    {
        await using var host = await LiveHost.StartAsync();
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri(host.BaseAddress.ToString().Replace("http", "ws", StringComparison.Ordinal) + "api/events"), Ct);
        using var sse = await host.Http.GetAsync("api/v1/events", HttpCompletionOption.ResponseHeadersRead, Ct);
        var events = new LiveClients.SseReader(await sse.Content.ReadAsStreamAsync(Ct));
        var stopping = host.App.StopAsync(Ct);

        var closed = await events.NextAsync();
        Assert.Equal(("closed", """{"Reason":"the server is stopping"}"""), (closed.Type, closed.Data));
        var buffer = new byte[64 * 1024];
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, Ct);
        }
        while (result.MessageType != WebSocketMessageType.Close);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, result.CloseStatus);
        Assert.Equal("the server is stopping", result.CloseStatusDescription);
        await stopping;
    }

    [Fact]
    public async Task AStuckWebSocketClientIsDroppedWhileSmtpAndAReadingClientCarryOn()
    {
        // Large summaries fill the stuck client's socket buffers after a few dozen messages.
        await using var host = await LiveHost.StartAsync(o => o.SubscriberQueueCapacity = 8, summaryPadding: 128 * 1024);
        var wsUri = new Uri(host.BaseAddress.ToString().Replace("http", "ws", StringComparison.Ordinal) + "api/events");
        using var stuck = new ClientWebSocket();
        await stuck.ConnectAsync(wsUri, Ct);
        using var reading = new ClientWebSocket();
        await reading.ConnectAsync(wsUri, Ct);
        var dropped = new TaskCompletionSource<CatcherSubscription>(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Hub.SubscriberDropped += s => dropped.TrySetResult(s);

        var sent = new List<string>();
        var reader = Task.Run(async () =>
        {
            // Events arrive in order, so the truncate published after the last message ends the list.
            var received = new List<string>();
            while (true)
            {
                var frame = await LiveClients.NextFrameAsync(reading);
                switch (frame.GetProperty("Type").GetString())
                {
                    case "new":
                        received.Add(frame.GetProperty("Data").GetProperty("ID").GetString()!);
                        break;
                    case "truncate":
                        return received;
                }
            }
        }, Ct);

        using (var client = new SmtpClient())
        {
            var endpoint = host.Catcher.Listeners[0].EndPoint;
            await client.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, MailKit.Security.SecureSocketOptions.None, Ct);
            // Every message gets its 250 while the stuck client holds nothing up; stop once the hub has dropped it.
            while (!dropped.Task.IsCompleted)
            {
                Assert.True(sent.Count < 2000, "the stuck client was never dropped");
                sent.Add(await LiveHost.SendOnAsync(client, $"Message {sent.Count}"));
            }

            await client.DisconnectAsync(true, Ct);
        }

        var droppedSubscription = await dropped.Task;
        Assert.StartsWith("fell behind", droppedSubscription.EndReason, StringComparison.Ordinal);
        Assert.Equal(1, host.Hub.DroppedCount);
        Assert.Equal(1, host.Hub.StreamCount);
        host.Hub.PublishTruncate();
        Assert.Equal(sent, await reader);
    }
}
