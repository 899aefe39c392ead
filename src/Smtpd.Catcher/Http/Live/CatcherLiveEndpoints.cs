using System.Buffers;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Smtpd.Catcher.Http.Live;

/// <summary>
/// Maps the live routes: the Mailpit WebSocket <c>/api/events</c>, the Server-Sent Events stream
/// <c>/api/v1/events</c> and the blocking <c>/api/v1/wait</c>.
/// </summary>
internal static class CatcherLiveEndpoints
{
    /// <summary>The WebSocket route, Mailpit's.</summary>
    public const string WebSocketRoute = "/api/events";

    /// <summary>The Server-Sent Events route.</summary>
    public const string EventStreamRoute = "/api/v1/events";

    /// <summary>The blocking wait route.</summary>
    public const string WaitRoute = "/api/v1/wait";

    private const string PlainText = "text/plain; charset=utf-8";

    /// <summary>How long a closing handshake or a last SSE event may take before the connection is cut.</summary>
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Maps the three routes on <paramref name="endpoints"/>.</summary>
    /// <param name="endpoints">Where to map them (the app, or a group under a base path).</param>
    /// <param name="hub">The event hub that MailCatcher and the REST routes publish to.</param>
    /// <param name="query">The store's search, for the wait.</param>
    /// <returns>The group holding the three routes, for authorization and other conventions.</returns>
    public static RouteGroupBuilder MapCatcherLive(this IEndpointRouteBuilder endpoints, CatcherEvents hub, ICatcherMessageQuery query)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(hub);
        ArgumentNullException.ThrowIfNull(query);
        var options = hub.Options;
        var waiter = new CatcherWaiter(hub, query);
        var group = endpoints.MapGroup(string.Empty);

        // The WebSocket middleware runs only in front of this route, so the host needs no UseWebSockets() of its
        // own. Keep-alive: a ping every interval; a client that sends no pong within two is closed.
        var webSocketPipeline = endpoints.CreateApplicationBuilder()
            .UseWebSockets(new WebSocketOptions { KeepAliveInterval = options.KeepAliveInterval, KeepAliveTimeout = options.KeepAliveInterval * 2 });
        webSocketPipeline.Run(context => ServeWebSocketAsync(context, hub, query));
        var webSocket = webSocketPipeline.Build();
        group.MapGet(WebSocketRoute, webSocket);
        group.MapGet(EventStreamRoute, context => ServeEventStreamAsync(context, hub, query));
        group.MapGet(WaitRoute, context => ServeWaitAsync(context, waiter, query, options));
        return group;
    }

    private static async Task ServeWebSocketAsync(HttpContext context, CatcherEvents hub, ICatcherMessageQuery query)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await PlainAsync(context, StatusCodes.Status400BadRequest, $"{WebSocketRoute} is a WebSocket: connect with Upgrade: websocket (or read {EventStreamRoute}, the same events as Server-Sent Events)");
            return;
        }

        if (!TryMailbox(context, query, out var scoped, out var problem))
        {
            await PlainAsync(context, StatusCodes.Status404NotFound, problem);
            return;
        }

        using var subscription = hub.TrySubscribe(CatcherSubscriberKind.Stream, Peer(context), mailbox: scoped.Mailbox);
        if (subscription is null)
        {
            await PlainAsync(context, StatusCodes.Status503ServiceUnavailable, TooMany(hub));
            return;
        }

        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        // Cancelling a pending receive would abort the socket, so the receive loop runs without a token and ends
        // when the client closes; it then stops the sender through clientLeft.
        using var clientLeft = new CancellationTokenSource();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, subscription.Ended, Stopping(context), clientLeft.Token);
        var receiving = DiscardIncomingAsync(socket, clientLeft);
        // Mailpit sends the counts to a client that connects.
        hub.RequestStats();
        try
        {
            await foreach (var e in subscription.Events.ReadAllAsync(stop.Token))
            {
                // A send that cannot finish (the client stopped reading) is cancelled when the hub drops the client,
                // which aborts the socket: the send never outlives the subscription.
                await socket.SendAsync(e.WebSocketFrame, WebSocketMessageType.Text, endOfMessage: true, stop.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // The client left, fell behind, or the server is stopping: closed below.
        }

        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            var (status, reason) = subscription.EndReason is { } why
                ? (why.StartsWith("fell behind", StringComparison.Ordinal) ? WebSocketCloseStatus.PolicyViolation : WebSocketCloseStatus.EndpointUnavailable, why)
                : Stopping(context).IsCancellationRequested ? (WebSocketCloseStatus.EndpointUnavailable, "the server is stopping")
                : (WebSocketCloseStatus.NormalClosure, string.Empty);
            using var closeTimeout = new CancellationTokenSource(CloseTimeout);
            try
            {
                await socket.CloseOutputAsync(status, reason, closeTimeout.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
            {
                // The client is gone; nothing more to say.
            }
        }

        // RFC 6455 7.1.1: after its Close, the server waits for the client's before the TCP connection goes; a
        // client that never answers is cut off.
        try
        {
            await receiving.WaitAsync(CloseTimeout);
        }
        catch (TimeoutException)
        {
            socket.Abort();
            await receiving;
        }
    }

    /// <summary>Reads (and ignores, as Mailpit does) what the client sends, until it closes; then stops the sender.</summary>
    private static async Task DiscardIncomingAsync(WebSocket socket, CancellationTokenSource clientLeft)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1024);
        try
        {
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException)
        {
            // The connection broke or was aborted: either way the sender stops too.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        await clientLeft.CancelAsync();
    }

    private static async Task ServeEventStreamAsync(HttpContext context, CatcherEvents hub, ICatcherMessageQuery query)
    {
        if (!TryMailbox(context, query, out var scoped, out var problem))
        {
            await PlainAsync(context, StatusCodes.Status404NotFound, problem);
            return;
        }

        long? lastEventId = long.TryParse(context.Request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var last) ? last : null;
        using var subscription = hub.TrySubscribe(CatcherSubscriberKind.Stream, Peer(context), lastEventId, scoped.Mailbox);
        if (subscription is null)
        {
            await PlainAsync(context, StatusCodes.Status503ServiceUnavailable, TooMany(hub));
            return;
        }

        var response = context.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        // nginx buffers proxied responses unless told not to; an event stream must pass through at once.
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, subscription.Ended, Stopping(context));
        var keepAlive = hub.Options.KeepAliveInterval;
        try
        {
            // A comment first: the headers go out now, so the client knows it is subscribed.
            await response.Body.WriteAsync(": smtpd events\n\n"u8.ToArray(), stop.Token);
            await response.Body.FlushAsync(stop.Token);
            hub.RequestStats();
            var events = subscription.Events;
            while (true)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                idle.CancelAfter(keepAlive);
                bool more;
                try
                {
                    more = await events.WaitToReadAsync(idle.Token);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    // Idle for a whole interval: a comment line keeps proxies from timing the stream out.
                    await response.Body.WriteAsync(": keep-alive\n\n"u8.ToArray(), stop.Token);
                    await response.Body.FlushAsync(stop.Token);
                    continue;
                }

                if (!more)
                {
                    break;
                }

                while (events.TryRead(out var e))
                {
                    await response.Body.WriteAsync(e.SseFrame, stop.Token);
                }

                await response.Body.FlushAsync(stop.Token);
            }
        }
        catch (OperationCanceledException) when (subscription.Ended.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
        {
            // Ended while a write was blocked: the client stopped reading, so nothing more can reach it.
            context.Abort();
            return;
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            // The server is stopping: say so below.
        }
        catch (OperationCanceledException)
        {
            return;
        }

        var reason = subscription.EndReason ?? "the server is stopping";
        var closed = JsonSerializer.SerializeToUtf8Bytes(new ClosedData(reason), LiveJsonContext.Default.ClosedData);
        using var closeTimeout = new CancellationTokenSource(CloseTimeout);
        try
        {
            await response.Body.WriteAsync(Encoding.UTF8.GetBytes("event: closed\ndata: " + Encoding.UTF8.GetString(closed) + "\n\n"), closeTimeout.Token);
            await response.Body.FlushAsync(closeTimeout.Token);
        }
        catch (OperationCanceledException)
        {
            context.Abort();
        }
    }

    private static async Task ServeWaitAsync(HttpContext context, CatcherWaiter waiter, ICatcherMessageQuery query, CatcherLiveOptions options)
    {
        var request = context.Request.Query;
        var text = request["query"].ToString();
        var count = 1;
        if (request.TryGetValue("count", out var countText)
            && (!int.TryParse(countText.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1 || count > options.MaxWaitCount))
        {
            await PlainAsync(context, StatusCodes.Status400BadRequest, $"count must be a whole number from 1 to {options.MaxWaitCount}, not {Quote(countText.ToString())}");
            return;
        }

        var timeout = options.DefaultWaitTimeout;
        if (request.TryGetValue("timeout", out var timeoutText) && (!WaitDuration.TryParse(timeoutText.ToString(), out timeout) || timeout > options.MaxWaitTimeout))
        {
            await PlainAsync(context, StatusCodes.Status400BadRequest, $"timeout must be a duration from 0 to {WaitDuration.Format(options.MaxWaitTimeout)} (such as 30s, 1500ms, 5m or plain seconds), not {Quote(timeoutText.ToString())}");
            return;
        }

        if (query.Validate(text) is { } problem)
        {
            await PlainAsync(context, StatusCodes.Status400BadRequest, $"bad query {Quote(text)}: {problem}");
            return;
        }

        if (!TryMailbox(context, query, out var scoped, out var unknown))
        {
            await PlainAsync(context, StatusCodes.Status404NotFound, unknown);
            return;
        }

        if (!ReferenceEquals(scoped, query))
        {
            // A waiter holds no state of its own: one limited to the mailbox costs nothing per request.
            waiter = new CatcherWaiter(waiter.Hub, scoped);
            query = scoped;
        }

        var result = await waiter.WaitAsync(text, count, timeout, Peer(context), context.RequestAborted);
        switch (result.Outcome)
        {
            case CatcherWaitOutcome.Found:
                var stats = await query.StatsAsync(context.RequestAborted);
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = "application/json; charset=utf-8";
                await WriteListAsync(context.Response.BodyWriter, result.Messages, stats);
                break;
            case CatcherWaitOutcome.TimedOut:
                var noun = count == 1 ? "message" : "messages";
                await PlainAsync(context, StatusCodes.Status408RequestTimeout, $"timed out after {WaitDuration.Format(timeout)}: {result.Messages.Count} of {count} {noun} matching {Quote(text)} stored");
                break;
            default:
                await PlainAsync(context, StatusCodes.Status503ServiceUnavailable, result.Reason ?? "unavailable");
                break;
        }
    }

    /// <summary>Writes the wait's answer in the shape of Mailpit's message list (snake_case at the top, summaries as the list route writes them).</summary>
    private static async Task WriteListAsync(System.IO.Pipelines.PipeWriter body, IReadOnlyList<CatcherMessageSummary> messages, CatcherMailboxStats stats)
    {
        using (var writer = new Utf8JsonWriter(body, CatcherJson.WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteNumber("total", stats.Total);
            writer.WriteNumber("unread", stats.Unread);
            writer.WriteNumber("messages_count", messages.Count);
            writer.WriteNumber("messages_unread", messages.Count(m => !m.Read));
            writer.WriteNumber("start", 0);
            writer.WriteStartArray("tags");
            foreach (var tag in stats.Tags)
            {
                writer.WriteStringValue(tag);
            }

            writer.WriteEndArray();
            writer.WriteStartArray("messages");
            foreach (var message in messages)
            {
                writer.WriteRawValue(message.Json.Span, skipInputValidation: true);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        await body.FlushAsync();
    }

    private static Task PlainAsync(HttpContext context, int status, string line)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = PlainText;
        // One line, whatever a reason quotes: a control character that slipped through becomes a space.
        return context.Response.WriteAsync(string.Create(line.Length, line, static (span, text) =>
        {
            for (var i = 0; i < text.Length; i++)
            {
                span[i] = char.IsControl(text[i]) ? ' ' : text[i];
            }
        }) + "\n");
    }

    /// <summary>
    /// Reads <c>?mailbox=</c>: absent or empty is every message (<paramref name="query"/> itself); a configured name
    /// gives the search limited to it; any other name is refused with 404, as the REST routes refuse it.
    /// </summary>
    private static bool TryMailbox(HttpContext context, ICatcherMessageQuery query, out ICatcherMessageQuery scoped, out string problem)
    {
        var name = context.Request.Query["mailbox"].ToString().Trim();
        scoped = query;
        problem = string.Empty;
        if (name.Length == 0)
        {
            return true;
        }

        if (query.InMailbox(name) is { } limited)
        {
            scoped = limited;
            return true;
        }

        problem = $"no mailbox named {Quote(name)}: GET /api/v1/mailboxes lists them";
        return false;
    }

    private static string TooMany(CatcherEvents hub) =>
        $"too many event clients: at most {hub.Options.MaxSubscribers} may listen at once";

    /// <summary>Quotes text from the request for a one-line reason: in double quotes, with quotes, backslashes and control characters escaped.</summary>
    internal static string Quote(string text)
    {
        var quoted = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            _ = c switch
            {
                '"' => quoted.Append("\\\""),
                '\\' => quoted.Append("\\\\"),
                _ when char.IsControl(c) => quoted.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"),
                _ => quoted.Append(c),
            };
        }

        return quoted.Append('"').ToString();
    }

    private static string Peer(HttpContext context) =>
        context.Connection.RemoteIpAddress is { } address ? $"{address}:{context.Connection.RemotePort}" : context.TraceIdentifier;

    private static CancellationToken Stopping(HttpContext context) =>
        context.RequestServices.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
}
