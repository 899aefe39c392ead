using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Smtpd.Catcher.Http;

namespace Smtpd.Catcher.Metrics;

/// <summary><c>GET /metrics</c>: the catcher's metrics in the Prometheus text format 0.0.4, when <see cref="CatcherOptions.Metrics"/> is set.</summary>
internal static class MetricsEndpoint
{
    /// <summary>Maps the route if the catcher collects metrics; without them there is no route, so <c>/metrics</c> is a 404.</summary>
    public static void Map(IEndpointRouteBuilder routes, MailCatcher catcher)
    {
        if (!catcher.Options.Metrics)
        {
            return;
        }

        // A Prometheus server scrapes with GET only; the route is inside the caller's group, so it follows the base
        // path, and behind UseCatcherSecurity, so HTTP Basic guards it as it guards the API (Mailpit does the same).
        routes.MapGet("/metrics", () => catcher.MetricsCollector is { } collector
            ? Results.Text(collector.Scrape(), PrometheusCollector.ContentType)
            : ApiRequests.Error(503, "the catcher has not started"));
    }
}
