using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Smtpd.Catcher.Http.Security;

/// <summary>Puts the catcher's HTTP security rules in front of its endpoints.</summary>
public static class CatcherSecurityApplicationBuilderExtensions
{
    /// <summary>How long a browser may cache a CORS preflight answer: ten minutes, so a test run preflights rarely yet a changed <c>--api-cors</c> takes effect soon.</summary>
    private static readonly TimeSpan PreflightMaxAge = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Adds, in this order: the response headers every response carries; the <c>Host</c> check (403); the query
    /// and body caps (414, 413); CORS when <see cref="CatcherHttpSecurityOptions.CorsOrigins"/> is not empty
    /// (ASP.NET Core's CORS middleware, which also answers preflights before login); the cross-site and
    /// <c>application/json</c> checks for mutating requests (403, 415); and HTTP Basic when users are configured (401).
    /// </summary>
    /// <remarks>
    /// Call it after <c>UsePathBase</c> (paths such as <c>/view</c> are matched below the path base) and before the
    /// endpoints are mapped. It needs no services: CORS runs with its own policy, so <c>AddCors</c> is not required.
    /// The options are validated and copied; later changes to them have no effect.
    /// </remarks>
    /// <param name="app">The application.</param>
    /// <param name="options">The settings.</param>
    /// <returns><paramref name="app"/>.</returns>
    /// <exception cref="ArgumentException">A bad allowed host, CORS origin or framable path.</exception>
    public static IApplicationBuilder UseCatcherSecurity(this IApplicationBuilder app, CatcherHttpSecurityOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(options);
        var policy = new CatcherHttpSecurityPolicy(options);
        app.UseMiddleware<SecurityHeadersMiddleware>(policy);
        app.UseMiddleware<HostFilterMiddleware>(policy);
        app.UseMiddleware<RequestLimitsMiddleware>(policy);
        if (policy.CorsEnabled)
        {
            UseCors(app, policy);
        }

        app.UseMiddleware<CrossSiteRequestMiddleware>(policy);
        if (policy.Users.Count > 0)
        {
            app.UseMiddleware<BasicAuthenticationMiddleware>(policy);
        }

        return app;
    }

    private static void UseCors(IApplicationBuilder app, CatcherHttpSecurityPolicy policy)
    {
        var builder = new CorsPolicyBuilder()
            .AllowAnyHeader()
            .WithMethods(HttpMethods.Get, HttpMethods.Head, HttpMethods.Post, HttpMethods.Put, HttpMethods.Delete, HttpMethods.Patch)
            .SetPreflightMaxAge(PreflightMaxAge);
        if (policy.AnyCorsOrigin)
        {
            // The Fetch standard forbids credentials with "*", so any origin means no Basic credentials cross-origin.
            builder.AllowAnyOrigin();
        }
        else
        {
            builder.WithOrigins(policy.CorsOrigins).AllowCredentials();
        }

        var corsPolicy = builder.Build();
        var loggerFactory = app.ApplicationServices.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var corsService = app.ApplicationServices.GetService<ICorsService>()
            ?? new CorsService(Options.Create(new CorsOptions()), loggerFactory);
        var provider = new FixedCorsPolicyProvider(corsPolicy);
        app.Use(next =>
        {
            var middleware = new CorsMiddleware(next, corsService, corsPolicy, loggerFactory);
            return context => middleware.Invoke(context, provider);
        });
    }

    /// <summary>Hands CORS the one policy, so the middleware needs no <c>AddCors</c> registration.</summary>
    private sealed class FixedCorsPolicyProvider(CorsPolicy policy) : ICorsPolicyProvider
    {
        public Task<CorsPolicy?> GetPolicyAsync(HttpContext context, string? policyName) => Task.FromResult<CorsPolicy?>(policy);
    }
}
