using Microsoft.AspNetCore.Http;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// The DNS-rebinding defence: a request whose <c>Host</c> is not <c>localhost</c>, an IP literal, or a name given
/// with <c>--http-host</c> gets <c>403</c>. A page on <c>http://evil.example</c> whose DNS answer flips to 127.0.0.1 can
/// reach a loopback listener, but its requests still say <c>Host: evil.example</c>.
/// </summary>
/// <remarks>
/// ASP.NET Core's HostFiltering middleware answers <c>400</c> and cannot accept every IP literal, so this small check
/// stands in for it. A request with no <c>Host</c> at all (HTTP/1.0) passes: browsers always send one.
/// </remarks>
internal sealed class HostFilterMiddleware(RequestDelegate next, CatcherHttpSecurityPolicy policy)
{
    public Task InvokeAsync(HttpContext context)
    {
        var host = context.Request.Host;
        if (!host.HasValue || policy.IsAllowedHost(host.Host))
        {
            return next(context);
        }

        return CatcherHttpResults.WriteErrorAsync(context, StatusCodes.Status403Forbidden,
            $"Host '{host.Host}' is not served here: use localhost or an IP address, or start smtpd with --http-host {host.Host}");
    }
}
