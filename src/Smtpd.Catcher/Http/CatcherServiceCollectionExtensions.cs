using Microsoft.AspNetCore.Routing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Smtpd.Catcher;
using Smtpd.Catcher.Http;
using Smtpd.Catcher.Http.Live;
using Smtpd.Catcher.Storage;

// In Microsoft.Extensions.DependencyInjection and Microsoft.AspNetCore.Builder, where hosts look for Add… and Map… methods.
#pragma warning disable IDE0130 // Namespace does not match folder structure
namespace Microsoft.Extensions.DependencyInjection
{
    /// <summary>Registers the smtpd mail catcher in an ASP.NET Core application.</summary>
    public static class SmtpdCatcherServiceCollectionExtensions
    {
        /// <summary>
        /// Adds a <see cref="MailCatcher"/> that starts and stops with the host, and the services its HTTP API needs:
        /// the mailbox, the search, and the live-event hub that every stored message and every change made through
        /// the API is published to. Map the routes with
        /// <see cref="Microsoft.AspNetCore.Builder.SmtpdCatcherEndpointRouteBuilderExtensions.MapSmtpdCatcher(Microsoft.AspNetCore.Routing.IEndpointRouteBuilder)"/>.
        /// </summary>
        /// <param name="services">The services.</param>
        /// <param name="configure">Sets the catcher's options: SMTP listeners, store path (<see cref="CatcherOptions.DatabasePath"/> is required for the API), limits.</param>
        /// <returns><paramref name="services"/>.</returns>
        /// <example>
        /// <code>
        /// var builder = WebApplication.CreateBuilder(args);
        /// builder.Services.AddSmtpdCatcher(o => o.DatabasePath = "mail.db");
        /// var app = builder.Build();
        /// app.MapSmtpdCatcher();
        /// app.Run();
        /// </code>
        /// </example>
        public static IServiceCollection AddSmtpdCatcher(this IServiceCollection services, Action<CatcherOptions> configure)
        {
            ArgumentNullException.ThrowIfNull(services);
            ArgumentNullException.ThrowIfNull(configure);
            var options = new CatcherOptions();
            configure(options);
            services.AddSingleton(sp => new MailCatcher(options, sp.GetService<ILoggerFactory>()));
            services.AddHostedService<CatcherHostedService>();
            return AddApiServices(services);
        }

        /// <summary>Registers a catcher its caller has started and will stop (the smtpd tool).</summary>
        /// <param name="services">The services.</param>
        /// <param name="catcher">The started catcher.</param>
        /// <returns><paramref name="services"/>.</returns>
        internal static IServiceCollection AddSmtpdCatcher(this IServiceCollection services, MailCatcher catcher)
        {
            services.AddSingleton(catcher);
            return AddApiServices(services);
        }

        private static IServiceCollection AddApiServices(IServiceCollection services)
        {
            services.AddRouting();
            services.AddTransient<Microsoft.AspNetCore.Hosting.IStartupFilter, CatcherRouteCheck>();
            // Mailpit's search language (docs/search.md), unless the application registered its own compiler first.
            services.TryAddSingleton<IMessageQueryCompiler>(Smtpd.Catcher.Search.SearchQueryCompiler.Instance);
            services.AddSingleton<CatcherMailbox>();
            services.AddSingleton(sp => new LinkChecker(sp.GetRequiredService<MailCatcher>().Options.Http));
            // The wait searches exactly as /api/v1/search does: the same compiler, the same store.
            services.TryAddSingleton<ICatcherMessageQuery>(sp => new MailboxMessageQuery(sp.GetRequiredService<CatcherMailbox>()));
            services.AddSingleton(sp => new CatcherLive(
                sp.GetRequiredService<MailCatcher>(), sp.GetRequiredService<ICatcherMessageQuery>(), sp.GetService<ILoggerFactory>()));
            return services;
        }
    }

    /// <summary>Marks the endpoints the catcher maps, for <see cref="CatcherRouteCheck"/>.</summary>
    internal sealed class CatcherEndpointMetadata
    {
        /// <summary>The one instance.</summary>
        public static readonly CatcherEndpointMetadata Instance = new();

        private CatcherEndpointMetadata()
        {
        }
    }

    /// <summary>
    /// Refuses to start a host whose catcher routes are mapped twice at one path (<c>MapSmtpdCatcher()</c> called
    /// twice, or with <c>MapSmtpdCatcherUi()</c> beside it): ASP.NET Core would answer every such request 500 (an
    /// ambiguous match) at run time. This says so at the start, naming the routes.
    /// </summary>
    /// <remarks>
    /// A startup filter, because it runs where the host builds its request pipeline: after the application's own
    /// configuration has added its endpoints (a hosted service starts before that), and before the server listens.
    /// It compares route patterns, which do not hold a branch's path base: catchers in two <c>app.Map("/a", …)</c>
    /// branches look alike to it (docs/api.md says to use route groups).
    /// </remarks>
    internal sealed class CatcherRouteCheck : Microsoft.AspNetCore.Hosting.IStartupFilter
    {
        public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
        {
            next(app);
            Check(app.ApplicationServices);
        };

        private static void Check(IServiceProvider services)
        {
            if (services.GetService<EndpointDataSource>() is not { } source)
            {
                return;
            }

            var twice = source.Endpoints.OfType<RouteEndpoint>()
                .Where(e => e.Metadata.GetMetadata<CatcherEndpointMetadata>() is not null)
                .GroupBy(e => (Methods: string.Join(',', e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []), Pattern: e.RoutePattern.RawText ?? string.Empty))
                .Where(g => g.Count() > 1)
                .Select(g => $"{(g.Key.Methods.Length == 0 ? "*" : g.Key.Methods)} {g.Key.Pattern}")
                .ToList();
            if (twice.Count > 0)
            {
                throw new InvalidOperationException(
                    $"The catcher's routes are mapped more than once at the same path ({string.Join(", ", twice.Take(3))}{(twice.Count > 3 ? $" and {twice.Count - 3} more" : string.Empty)}). "
                    + "Call MapSmtpdCatcher() once per path prefix: it maps the API and the inbox (MapSmtpdCatcherApi() and MapSmtpdCatcherUi() map one each).");
            }
        }
    }

    /// <summary>Starts the catcher with the host and drains it when the host stops.</summary>
    internal sealed class CatcherHostedService(MailCatcher catcher) : IHostedService
    {
        /// <summary>How long a stopping host lets SMTP transfers in flight finish (the CLI's drain timeout).</summary>
        private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

        public Task StartAsync(CancellationToken cancellationToken)
        {
            catcher.Start();
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await catcher.StopAsync(DrainTimeout, cancellationToken);
            // The API's pooled connections keep the WAL open; closing them lets the last close checkpoint it.
            SqliteConnection.ClearAllPools();
        }
    }
}

namespace Microsoft.AspNetCore.Builder
{
    /// <summary>Maps the smtpd mail catcher's HTTP API, live events and browser inbox.</summary>
    public static class SmtpdCatcherEndpointRouteBuilderExtensions
    {
        /// <summary>
        /// Maps the whole catcher: the API (<see cref="MapSmtpdCatcherApi"/>) and the browser inbox at <c>/</c>
        /// (<see cref="SmtpdCatcherUiEndpointRouteBuilderExtensions.MapSmtpdCatcherUi"/>). An application that
        /// wants the API without the inbox calls <see cref="MapSmtpdCatcherApi"/> instead. docs/api.md lists every
        /// route. Call
        /// <see cref="SmtpdCatcherServiceCollectionExtensions.AddSmtpdCatcher(IServiceCollection, Action{CatcherOptions})"/> first,
        /// and <see cref="Smtpd.Catcher.Http.Security.CatcherSecurityApplicationBuilderExtensions.UseCatcherSecurity"/>
        /// before it to put the catcher's HTTP security rules in front.
        /// </summary>
        /// <param name="routes">The application or a route group (a group's prefix becomes the catcher's base path).</param>
        /// <returns>The group of every route mapped, for conventions such as <c>RequireAuthorization()</c>.</returns>
        public static RouteGroupBuilder MapSmtpdCatcher(this IEndpointRouteBuilder routes)
        {
            ArgumentNullException.ThrowIfNull(routes);
            var group = routes.MapGroup(string.Empty);
            group.MapSmtpdCatcherApi();
            group.MapSmtpdCatcherUi();
            return group;
        }

        /// <summary>
        /// Maps the catcher's API without the browser inbox: Mailpit's API v1 (<c>/api/v1/…</c>), the message views
        /// (<c>/view/{ID}.html</c>, <c>.txt</c>), the health checks (<c>/livez</c>, <c>/readyz</c>), the metrics
        /// (<c>/metrics</c>, when <see cref="CatcherOptions.Metrics"/> is set) and the live
        /// events (the WebSocket <c>/api/events</c>, Server-Sent Events at <c>/api/v1/events</c> and the blocking
        /// <c>/api/v1/wait</c>), which announce every change the API and SMTP make.
        /// </summary>
        /// <param name="routes">The application or a route group.</param>
        /// <returns>The group of the API's routes, for conventions.</returns>
        public static RouteGroupBuilder MapSmtpdCatcherApi(this IEndpointRouteBuilder routes)
        {
            ArgumentNullException.ThrowIfNull(routes);
            var live = routes.ServiceProvider.GetService<CatcherLive>()
                ?? throw new InvalidOperationException("Call services.AddSmtpdCatcher(...) before mapping the catcher's routes.");
            var group = routes.MapGroup(string.Empty);
            group.WithMetadata(CatcherEndpointMetadata.Instance);
            CatcherEndpoints.Map(group);
            group.MapCatcherLive(live.Hub, live.Query);
            Smtpd.Catcher.Metrics.MetricsEndpoint.Map(group, routes.ServiceProvider.GetRequiredService<MailCatcher>());
            return group;
        }
    }
}
