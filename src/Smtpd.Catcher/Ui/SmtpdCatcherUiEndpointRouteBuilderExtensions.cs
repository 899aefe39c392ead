using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Smtpd.Catcher.Ui;

// In Microsoft.AspNetCore.Builder, where hosts look for Map… methods (as MapSmtpdCatcher).
#pragma warning disable IDE0130 // Namespace does not match folder structure
namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the catcher's browser inbox (issue 14) onto an ASP.NET Core endpoint route builder.</summary>
public static class SmtpdCatcherUiEndpointRouteBuilderExtensions
{
    /// <summary>
    /// The inbox page's Content-Security-Policy. Scripts and styles come only from the catcher itself (no inline
    /// script or style, so an injected one cannot run), message HTML is shown only in a same-origin
    /// <c>/view/…</c> frame that the view route sandboxes again, the page cannot be framed (clickjacking), and
    /// neither a <c>&lt;base&gt;</c> element nor a form can send the page's requests elsewhere.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    /// <summary>
    /// Serves the browser inbox: the page at <c>/</c> and its scripts, styles and icons under <c>/ui/</c>, all from
    /// files embedded in this assembly. The page uses relative URLs only, so it works unchanged under a path base
    /// (<c>--base-path</c>, <c>UsePathBase</c>); it talks to the Mailpit-compatible API of the same host
    /// (<c>api/v1/…</c>, <c>view/…</c> and the <c>api/events</c> WebSocket).
    /// </summary>
    /// <remarks>
    /// Every response has <c>X-Content-Type-Options: nosniff</c>, <c>Referrer-Policy: no-referrer</c> (a link
    /// opened from a message must not learn the inbox's URL) and <c>Cache-Control: no-cache</c> with a strong
    /// <c>ETag</c>, so an upgraded catcher is never shown with a stale script and an unchanged one costs a 304. The
    /// page also has <see cref="ContentSecurityPolicy"/>.
    /// </remarks>
    /// <param name="endpoints">The route builder, usually the <c>WebApplication</c>.</param>
    /// <returns>The group of the UI's endpoints, to add conventions to (authorization, rate limits).</returns>
    public static RouteGroupBuilder MapSmtpdCatcherUi(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var group = endpoints.MapGroup(string.Empty);
        group.WithMetadata(Microsoft.Extensions.DependencyInjection.CatcherEndpointMetadata.Instance);
        group.MapGet("/", ServePage).ExcludeFromDescription();
        group.MapGet("/ui/{**path}", ServeAsset).ExcludeFromDescription();
        return group;
    }

    private static IResult ServePage(HttpContext context)
    {
        var request = context.Request;
        // The page's relative URLs ("ui/app.js", "api/v1/…") resolve against the directory of the page's URL, so it
        // must end in a slash: under a path base "/mail" reaches this endpoint with an empty path, and in a route
        // group "/mail" with the path "/mail".
        if (!(request.Path.Value?.EndsWith('/') ?? false))
        {
            return TypedResults.Redirect(request.PathBase + request.Path + "/" + request.QueryString);
        }

        return Serve(context, "index.html");
    }

    private static IResult ServeAsset(HttpContext context, string? path) => Serve(context, path ?? string.Empty);

    private static IResult Serve(HttpContext context, string path)
    {
        if (!UiAssets.Embedded.TryGet(path, out var asset))
        {
            return TypedResults.NotFound();
        }

        var headers = context.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.CacheControl = "no-cache";
        headers["Referrer-Policy"] = "no-referrer";
        if (asset.IsPage)
        {
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XFrameOptions = "DENY";
        }

        return TypedResults.Bytes(asset.Content, asset.ContentType, entityTag: asset.ETag);
    }
}
