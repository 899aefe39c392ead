using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Smtpd.Catcher;
using Smtpd.Catcher.Http.Security;
using Smtpd.Cli.Configuration;

namespace Smtpd.Cli.Catcher;

/// <summary>
/// The catcher's HTTP API, live events and inbox on Kestrel, for the command line (<c>--http</c>, <c>--base-path</c>,
/// <c>--http-tls</c>, and the security flags <c>--ui-auth</c>, <c>--ui-auth-file</c>, <c>--http-host</c>,
/// <c>--api-cors</c>): an empty web host (no appsettings, no ASPNETCORE_* surprises) with only Kestrel, the
/// catcher's security rules, routing and the catcher's routes.
/// </summary>
internal sealed class HttpHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HttpHost(WebApplication app, IReadOnlyList<IPEndPoint> endPoints)
    {
        _app = app;
        EndPoints = endPoints;
    }

    /// <summary>The bound endpoints, with their real ports.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; }

    /// <summary>Starts the API, or returns <see langword="null"/> with <c>--no-http</c>.</summary>
    /// <param name="catcher">The started catcher.</param>
    /// <param name="settings">The settings.</param>
    /// <param name="certificate">The certificate, for <c>--http-tls</c>.</param>
    /// <param name="logging">Where Kestrel logs.</param>
    /// <returns>The running host.</returns>
    /// <exception cref="SettingException">A listener cannot be bound.</exception>
    public static async Task<HttpHost?> StartAsync(MailCatcher catcher, CatcherSettings settings, X509Certificate2? certificate, ILoggerProvider logging)
    {
        if (settings.HttpEndPoints.Count == 0)
        {
            return null;
        }

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Logging.AddProvider(logging);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            foreach (var endPoint in settings.HttpEndPoints)
            {
                kestrel.Listen(endPoint, listen =>
                {
                    if (settings.HttpTls && certificate is not null)
                    {
                        listen.UseHttps(certificate);
                    }
                });
            }
        });
        builder.Services.AddSmtpdCatcher(catcher);
        // The command owns SIGINT and SIGTERM (CatcherRunner: drain SMTP, then stop HTTP). The web host's default
        // ConsoleLifetime would also answer them, and a signal during its start made StartAsync throw
        // TaskCanceledException out of the command as an unhandled crash.
        builder.Services.AddSingleton<IHostLifetime, CommandOwnedLifetime>();
        var app = builder.Build();
        if (settings.BasePath is { } basePath)
        {
            // UsePathBase, so the security rules (the framable /view, the login) see paths below the prefix as an
            // ASP.NET Core host sees them; and nothing answers outside the prefix.
            app.UsePathBase(basePath);
            app.Use((context, next) => context.Request.PathBase.HasValue ? next(context) : NotFoundAsync(context));
        }

        app.UseCatcherSecurity(settings.HttpSecurity);
        app.UseRouting();
        app.MapSmtpdCatcher();
        try
        {
            await app.StartAsync();
        }
        catch (IOException ex)
        {
            await app.DisposeAsync();
            throw new SettingException(settings.HttpLabel, $"cannot listen for HTTP: {ex.Message}");
        }

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var bound = addresses.Select(a => new Uri(a)).Select(u => new IPEndPoint(IPAddress.Parse(u.Host.Trim('[', ']')), u.Port)).ToList();
        return new HttpHost(app, bound);
    }

    /// <summary>The web host's services, for tests.</summary>
    internal IServiceProvider Services => _app.Services;

    private static Task NotFoundAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        // The API's pooled connections keep the WAL open; closing them lets the store's last close checkpoint it.
        SqliteConnection.ClearAllPools();
    }
}

/// <summary>
/// The web host's lifetime under the command: it waits for nothing at start and listens for no signal, because the
/// command's own handlers stop the host (<see cref="CatcherRunner"/>).
/// </summary>
internal sealed class CommandOwnedLifetime : IHostLifetime
{
    /// <inheritdoc/>
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
