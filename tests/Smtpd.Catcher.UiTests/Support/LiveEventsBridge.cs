using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Smtpd.Catcher.Http;
using Smtpd.Catcher.Http.Live;

namespace Smtpd.Catcher.UiTests.Support;

/// <summary>
/// Maps the live routes (<c>/api/events</c>) and feeds them the catcher's changes, for as long as
/// <c>MapSmtpdCatcher</c> does not map them itself (the REST and live halves of the API were built apart). Once it
/// does, <see cref="MapIfMissing"/> finds the route and does nothing, and this file can go.
/// </summary>
internal static class LiveEventsBridge
{
    /// <summary>Maps the live routes unless the app already has <c>/api/events</c>.</summary>
    /// <param name="app">The app, after <c>MapSmtpdCatcher</c>.</param>
    /// <returns>What to dispose when the app has stopped, or <see langword="null"/> when nothing was mapped.</returns>
    public static IDisposable? MapIfMissing(WebApplication app)
    {
        var routes = ((IEndpointRouteBuilder)app).DataSources.SelectMany(source => source.Endpoints).OfType<RouteEndpoint>();
        if (routes.Any(route => route.RoutePattern.RawText?.TrimEnd('/').EndsWith(CatcherLiveEndpoints.WebSocketRoute, StringComparison.Ordinal) == true))
        {
            return null;
        }

        var catcher = app.Services.GetRequiredService<MailCatcher>();
        var hub = new CatcherEvents(new CatcherLiveOptions());
        var bridge = new Bridge(catcher, hub);
        app.MapCatcherLive(hub, new StoreMessageQuery(catcher.StorePath, (_, record) =>
            JsonSerializer.SerializeToUtf8Bytes(ApiMapper.Summary(record), ApiJsonContext.Default.ApiMessageSummary)));
        return bridge;
    }

    private sealed class Bridge : IDisposable
    {
        private readonly MailCatcher catcher;
        private readonly CatcherEvents hub;

        public Bridge(MailCatcher catcher, CatcherEvents hub)
        {
            this.catcher = catcher;
            this.hub = hub;
            catcher.Events.Published += Forward;
        }

        private void Forward(Http.CatcherEvent change)
        {
            var buffer = new ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                change.WriteData(writer);
            }

            hub.Publish(change.Type, buffer.WrittenMemory.ToArray());
        }

        public void Dispose()
        {
            catcher.Events.Published -= Forward;
            hub.Dispose();
        }
    }
}
