using System.Net;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Smtpd.Catcher.Tests.Webhooks;

/// <summary>
/// A real HTTP webhook receiver: Kestrel on 127.0.0.1 port 0. Each POST is recorded (body and content type) on a
/// channel the test reads, then answered with what <see cref="Answer"/> decides.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Channel<(string ContentType, string Body)> _received = Channel.CreateUnbounded<(string, string)>();

    private WebhookReceiver(Func<int, CancellationToken, Task<int>> answer)
    {
        Answer = answer;
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        _app.MapPost("/hook", async (HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            var number = Interlocked.Increment(ref _count);
            await _received.Writer.WriteAsync((context.Request.ContentType ?? string.Empty, body), context.RequestAborted);
            context.Response.StatusCode = await Answer(number, context.RequestAborted);
        });
    }

    private int _count;

    /// <summary>Decides the status of request number N (1-based); may wait on the request's token to hang.</summary>
    public Func<int, CancellationToken, Task<int>> Answer { get; }

    public Uri Url { get; private set; } = null!;

    public static async Task<WebhookReceiver> StartAsync(Func<int, CancellationToken, Task<int>> answer)
    {
        var receiver = new WebhookReceiver(answer);
        await receiver._app.StartAsync(TestContext.Current.CancellationToken);
        var address = receiver._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = new Uri(new Uri(address), "/hook");
        return receiver;
    }

    /// <summary>The next POST received, waiting for it.</summary>
    public async Task<(string ContentType, string Body)> NextAsync() =>
        await _received.Reader.ReadAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
