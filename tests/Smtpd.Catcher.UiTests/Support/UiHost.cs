using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Smtpd.Catcher.UiTests.Support;

/// <summary>A real Kestrel on 127.0.0.1 port 0 serving the inbox, optionally under a path base.</summary>
public sealed class UiHost : IAsyncDisposable
{
    private readonly WebApplication app;

    private UiHost(WebApplication app, Uri root)
    {
        this.app = app;
        Root = root;
    }

    /// <summary>The inbox's URL, ending in a slash (with the path base, if any).</summary>
    public Uri Root { get; }

    /// <summary>Starts a host that serves only the UI's own endpoints.</summary>
    /// <param name="pathBase">A path base such as <c>/mail</c>, or <see langword="null"/>.</param>
    /// <returns>The started host.</returns>
    public static async Task<UiHost> StartAsync(string? pathBase = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        if (pathBase is not null)
        {
            app.UsePathBase(pathBase);
        }

        // After UsePathBase, so routing sees the path without the base.
        app.UseRouting();
        app.MapSmtpdCatcherUi();
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new UiHost(app, new Uri(address.TrimEnd('/') + (pathBase ?? string.Empty) + "/"));
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync() => await app.DisposeAsync();
}
