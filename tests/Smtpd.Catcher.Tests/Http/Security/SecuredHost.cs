using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Smtpd.Catcher.Http.Security;

namespace Smtpd.Catcher.Tests.Http.Security;

/// <summary>
/// A real Kestrel on 127.0.0.1 port 0 with <c>UseCatcherSecurity</c> in front of a few endpoints shaped like the
/// catcher's, and an <see cref="HttpClient"/> pointed at it.
/// </summary>
internal sealed class SecuredHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SecuredHost(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
        Client = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = baseAddress };
    }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    /// <summary>The <c>Origin</c> a browser on the catcher's own page sends.</summary>
    public string OwnOrigin => BaseAddress.GetLeftPart(UriPartial.Authority);

    public static async Task<SecuredHost> StartAsync(CatcherHttpSecurityOptions? options = null, string? pathBase = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        if (pathBase is not null)
        {
            app.UsePathBase(pathBase);
        }

        app.UseCatcherSecurity(options ?? new CatcherHttpSecurityOptions());
        app.UseWebSockets();
        app.Map("/api/events", async (HttpContext context) =>
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            await socket.SendAsync("{\"Type\":\"stats\"}"u8.ToArray(), System.Net.WebSockets.WebSocketMessageType.Text, endOfMessage: true, context.RequestAborted);
            await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, context.RequestAborted);
        });
        app.MapGet("/api/v1/info", () => "info");
        app.MapGet("/api/v1/whoami", (HttpContext context) => context.User.Identity?.Name ?? "(nobody)");
        app.MapPost("/api/v1/send", async (HttpRequest request) =>
        {
            var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer);
            return $"read {buffer.Length}";
        });
        app.MapPut("/api/v1/messages", () => "ok");
        app.MapDelete("/api/v1/messages", () => "ok");
        app.MapGet("/view/{id}.html", (HttpContext context, bool? remote) =>
        {
            CatcherContentSecurityPolicy.ApplyToView(context.Response, remote == true);
            return Results.Content("<p>hello</p>", "text/html; charset=utf-8");
        });
        app.MapGet("/view/{id}.txt", () => "hello");
        app.MapGet("/api/v1/message/{id}/part/{part}", (HttpContext context, string type, string name) =>
        {
            MimePartHeaders.For(type, name).ApplyTo(context.Response);
            return context.Response.WriteAsync("<script>alert(1)</script>");
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = new Uri(app.Urls.Single() + (pathBase ?? "") + "/");
        return new SecuredHost(app, address);
    }

    public Task<HttpResponseMessage> GetAsync(string path, Action<HttpRequestMessage>? configure = null) =>
        SendAsync(HttpMethod.Get, path, content: null, configure);

    public Task<HttpResponseMessage> SendJsonAsync(HttpMethod method, string path, string json, Action<HttpRequestMessage>? configure = null) =>
        SendAsync(method, path, new StringContent(json, Encoding.UTF8, "application/json"), configure);

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        configure?.Invoke(request);
        return await Client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    /// <summary>Sets the headers a browser adds to a fetch from <paramref name="origin"/>.</summary>
    public static Action<HttpRequestMessage> FromBrowser(string origin, string fetchSite) => request =>
    {
        request.Headers.TryAddWithoutValidation("Origin", origin);
        request.Headers.TryAddWithoutValidation("Sec-Fetch-Site", fetchSite);
    };

    public static Action<HttpRequestMessage> WithBasic(string user, string password) => request =>
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    public static async Task<string> BodyAsync(HttpResponseMessage response) =>
        await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.DisposeAsync();
    }
}
