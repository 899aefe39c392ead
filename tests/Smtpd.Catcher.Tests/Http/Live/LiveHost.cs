using System.Net;
using System.Text;
using System.Text.Json;
using MailKit.Net.Smtp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MimeKit;
using Smtpd.Catcher.Http.Live;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Tests.Http.Live;

/// <summary>
/// A real catcher (SMTP on 127.0.0.1 port 0, a temporary SQLite store) and a real Kestrel app (port 0) serving the
/// live routes, wired as the lead wires them: the hub publishes what the catcher stores.
/// </summary>
internal sealed class LiveHost : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("smtpd-live-").FullName;
    private IDisposable? _publishing;

    private LiveHost(CatcherLiveOptions options) => Options = options;

    public CatcherLiveOptions Options { get; }

    public MailCatcher Catcher { get; private set; } = null!;

    public CatcherEvents Hub { get; private set; } = null!;

    public RecordingQuery Query { get; private set; } = null!;

    public WebApplication App { get; private set; } = null!;

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>Padding added to every summary, to fill socket buffers quickly in the slow-client tests.</summary>
    public int SummaryPadding { get; init; }

    public static async Task<LiveHost> StartAsync(Action<CatcherLiveOptions>? configure = null, int summaryPadding = 0)
    {
        var options = new CatcherLiveOptions();
        configure?.Invoke(options);
        var host = new LiveHost(options) { SummaryPadding = summaryPadding };
        await host.StartAsync();
        return host;
    }

    /// <summary>A stand-in for the REST helper's summary: ID, Subject, To (the object's shape is theirs, not tested here).</summary>
    public ReadOnlyMemory<byte> WriteSummary(string id, MessageRecord record)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("ID", id);
            writer.WriteString("Subject", record.Subject ?? string.Empty);
            writer.WriteStartArray("To");
            foreach (var recipient in record.Recipients)
            {
                writer.WriteStartObject();
                writer.WriteString("Name", string.Empty);
                writer.WriteString("Address", recipient);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteString("Snippet", new string('x', SummaryPadding));
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    public async Task<string> SendAsync(string subject, string to = "bob@example.com", string from = "alice@example.com")
    {
        using var client = new SmtpClient();
        var endpoint = Catcher.Listeners[0].EndPoint;
        await client.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, MailKit.Security.SecureSocketOptions.None, TestContext.Current.CancellationToken);
        var reply = await SendOnAsync(client, subject, to, from);
        await client.DisconnectAsync(true, TestContext.Current.CancellationToken);
        return reply;
    }

    /// <summary>Sends on an open connection; returns the stored ID from the 250.</summary>
    public static async Task<string> SendOnAsync(SmtpClient client, string subject, string to = "bob@example.com", string from = "alice@example.com")
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Hello" };
        var reply = await client.SendAsync(message, TestContext.Current.CancellationToken);
        const string Prefix = "2.0.0 Ok: stored as ";
        Assert.StartsWith(Prefix, reply, StringComparison.Ordinal);
        return reply[Prefix.Length..];
    }

    public Uri Url(string pathAndQuery) => new(BaseAddress, pathAndQuery);

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (App is not null)
        {
            await App.StopAsync(TestContext.Current.CancellationToken);
            await App.DisposeAsync();
        }

        _publishing?.Dispose();
        Hub?.Dispose();
        if (Catcher is not null)
        {
            await Catcher.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }

    private async Task StartAsync()
    {
        var catcherOptions = new CatcherOptions { DatabasePath = Path.Combine(_directory, "store.db") };
        catcherOptions.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));
        Catcher = new MailCatcher(catcherOptions);
        Catcher.Start();
        Query = new RecordingQuery(new StoreMessageQuery(Catcher.StorePath, WriteSummary));
        Hub = new CatcherEvents(Options, Query.StatsAsync);
        _publishing = Hub.PublishStoredMessages(Catcher, WriteSummary);

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        App = builder.Build();
        App.MapCatcherLive(Hub, Query);
        await App.StartAsync(TestContext.Current.CancellationToken);
        var address = App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }
}

/// <summary>The store's query, recording each look at the store so a test can tell an answer that came from an event.</summary>
internal sealed class RecordingQuery(ICatcherMessageQuery inner) : ICatcherMessageQuery
{
    private int _lists;
    private TaskCompletionSource _listed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>How many times the store was listed.</summary>
    public int Lists => Volatile.Read(ref _lists);

    /// <summary>Completes after the next look at the store has returned.</summary>
    public Task NextListed => Volatile.Read(ref _listed).Task;

    public string? Validate(string query) => inner.Validate(query);

    public async ValueTask<IReadOnlyList<CatcherMessageSummary>> ListAsync(string query, int limit, CancellationToken cancellationToken)
    {
        var result = await inner.ListAsync(query, limit, cancellationToken);
        Interlocked.Increment(ref _lists);
        Interlocked.Exchange(ref _listed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).SetResult();
        return result;
    }

    public ValueTask<bool> MatchesAsync(string query, CatcherStoredMessage message, CancellationToken cancellationToken) => inner.MatchesAsync(query, message, cancellationToken);

    public ValueTask<CatcherMailboxStats> StatsAsync(CancellationToken cancellationToken) => inner.StatsAsync(cancellationToken);
}

/// <summary>Reads the live routes as clients do.</summary>
internal static class LiveClients
{
    /// <summary>Receives WebSocket frames until one of a type other than <c>stats</c> arrives; returns it parsed.</summary>
    public static async Task<JsonElement> NextFrameAsync(System.Net.WebSockets.ClientWebSocket socket, bool skipStats = true)
    {
        var buffer = new byte[1 << 20];
        while (true)
        {
            var length = 0;
            System.Net.WebSockets.ValueWebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer.AsMemory(length), TestContext.Current.CancellationToken);
                length += result.Count;
            }
            while (!result.EndOfMessage);
            Assert.Equal(System.Net.WebSockets.WebSocketMessageType.Text, result.MessageType);
            using var document = JsonDocument.Parse(buffer.AsMemory(0, length));
            var frame = document.RootElement.Clone();
            if (!skipStats || frame.GetProperty("Type").GetString() != "stats")
            {
                return frame;
            }
        }
    }

    /// <summary>One Server-Sent Event.</summary>
    internal sealed record SseEvent(string? Id, string Type, string Data);

    /// <summary>Reads Server-Sent Events line by line, as EventSource does.</summary>
    internal sealed class SseReader(Stream stream)
    {
        private readonly StreamReader _reader = new(stream, Encoding.UTF8);

        /// <summary>The next event other than <c>stats</c>; comments are skipped.</summary>
        public async Task<SseEvent> NextAsync(bool skipStats = true)
        {
            while (true)
            {
                string? id = null;
                string type = "message";
                var data = new StringBuilder();
                var any = false;
                while (await _reader.ReadLineAsync(TestContext.Current.CancellationToken) is { } line)
                {
                    if (line.Length == 0)
                    {
                        if (any)
                        {
                            break;
                        }

                        continue;
                    }

                    if (line.StartsWith(':'))
                    {
                        continue;
                    }

                    any = true;
                    var colon = line.IndexOf(':', StringComparison.Ordinal);
                    var field = colon < 0 ? line : line[..colon];
                    var value = colon < 0 ? string.Empty : line[(colon + 1)..].TrimStart(' ');
                    switch (field)
                    {
                        case "id": id = value; break;
                        case "event": type = value; break;
                        case "data": data.Append(data.Length > 0 ? "\n" : string.Empty).Append(value); break;
                    }
                }

                Assert.True(any, "the stream ended");
                if (!skipStats || type != "stats")
                {
                    return new SseEvent(id, type, data.ToString());
                }
            }
        }
    }
}
