using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// Refuses cross-site requests that change state or open a WebSocket, and bodies that are not JSON. Safe methods
/// (GET, HEAD, OPTIONS, TRACE) pass unless they upgrade to a WebSocket; any other method is treated as mutating.
/// </summary>
/// <remarks>
/// <para>
/// The origin check follows Go 1.25's <c>http.CrossOriginProtection</c>: an <c>Origin</c> given with
/// <c>--api-cors</c> is trusted; otherwise a browser's <c>Sec-Fetch-Site</c> (Fetch Metadata) decides, and only
/// <c>same-origin</c> or <c>none</c> (typed or bookmarked by the user) pass; <c>same-site</c> is refused too, since
/// another port on localhost is the same site. A browser too old to send <c>Sec-Fetch-Site</c> still sends
/// <c>Origin</c> on a cross-origin POST, so then the <c>Origin</c> must name this server's own host and port. A request
/// with neither header comes from no browser (curl, a test suite) and passes. The scheme is not compared, so a
/// TLS-terminating proxy in front does not break same-origin requests.
/// </para>
/// <para>
/// Then a body must be <c>application/json</c> (<c>415</c> otherwise): a cross-site HTML form or a no-cors
/// <c>fetch</c> can only send <c>text/plain</c>, form or multipart bodies without a CORS preflight, so this stops
/// them even in a browser that sends neither header. A request with no body (<c>Content-Length: 0</c>, or none)
/// passes, so <c>DELETE /api/v1/messages</c> without IDs and a body-less <c>PUT</c> work.
/// </para>
/// </remarks>
internal sealed class CrossSiteRequestMiddleware(RequestDelegate next, CatcherHttpSecurityPolicy policy)
{
    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var method = request.Method;
        var upgrade = IsUpgrade(context);
        if (!upgrade && (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method)))
        {
            return next(context);
        }

        if (CrossOriginReason(request) is { } reason)
        {
            return CatcherHttpResults.WriteErrorAsync(context, StatusCodes.Status403Forbidden, reason);
        }

        if (!upgrade && HasBody(context) && !IsJson(request.ContentType))
        {
            var given = string.IsNullOrEmpty(request.ContentType) ? "no Content-Type" : request.ContentType;
            return CatcherHttpResults.WriteErrorAsync(context, StatusCodes.Status415UnsupportedMediaType,
                $"A request body must be Content-Type: application/json, not {given}");
        }

        return next(context);
    }

    private string? CrossOriginReason(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && policy.IsTrustedOrigin(origin))
        {
            return null;
        }

        var fetchSite = request.Headers["Sec-Fetch-Site"].ToString();
        if (fetchSite.Length > 0)
        {
            return fetchSite is "same-origin" or "none"
                ? null
                : $"Cross-site request refused: Sec-Fetch-Site is {fetchSite} and Origin {(origin.Length > 0 ? origin : "(none)")} is not an --api-cors origin";
        }

        if (origin.Length == 0 || IsOwnOrigin(origin, request.Host))
        {
            return null;
        }

        return $"Cross-origin request refused: Origin {origin} is neither this server nor an --api-cors origin";
    }

    /// <summary>Whether an <c>Origin</c> names the host and port the request was sent to (RFC 6454 section 5, less the scheme).</summary>
    private static bool IsOwnOrigin(string origin, HostString host)
    {
        if (!host.HasValue || !Uri.TryCreate(origin, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return false;
        }

        var port = host.Port ?? (uri.Scheme == Uri.UriSchemeHttps ? 443 : 80);
        return string.Equals(uri.Host, host.Host, StringComparison.OrdinalIgnoreCase) && uri.Port == port;
    }

    /// <summary>
    /// A WebSocket handshake (HTTP/1.1 <c>Upgrade</c>, or HTTP/2 extended CONNECT, RFC 8441): browsers apply no CORS to
    /// WebSockets, so without the origin check any page could open <c>/api/events</c> and read every new message.
    /// </summary>
    private static bool IsUpgrade(HttpContext context) =>
        context.Request.Headers.Upgrade.Count > 0
        || context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect == true;

    private static bool HasBody(HttpContext context) =>
        context.Request.ContentLength is { } length
            ? length > 0
            : context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? false;

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var parsed)
        && parsed.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);
}
