using Microsoft.AspNetCore.Http;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// The Content-Security-Policy values for responses that carry message content: <see cref="View"/> for
/// <c>/view/{ID}.html</c>, <see cref="ViewWithRemoteContent"/> when the request asks for remote content, and
/// <see cref="Part"/> for a MIME part (see <see cref="MimePartHeaders"/>).
/// </summary>
/// <remarks>
/// <c>sandbox</c> gives the message an opaque origin with scripts, forms, plug-ins and top-level navigation off, so
/// hostile HTML can neither read the API as the catcher's origin nor act on the page that frames it. It allows
/// popups that escape the sandbox so that a <c>target="_blank"</c> link in a message (a password-reset link) opens in
/// a normal tab; no script runs to open one by itself. <c>default-src 'none'</c> blocks every load the other
/// directives do not allow: no remote pixel tells a sender the mail was seen. <c>frame-ancestors 'self'</c> lets
/// only the catcher's own pages frame the view; <c>base-uri</c> and <c>form-action</c> are not covered by
/// <c>default-src</c>, so they are closed explicitly.
/// </remarks>
public static class CatcherContentSecurityPolicy
{
    /// <summary>
    /// The policy of <c>/view/{ID}.html</c>: sandboxed, with images only from the catcher itself (the <c>cid:</c>
    /// parts rewritten to part URLs), <c>data:</c> and <c>cid:</c>, inline styles, and nothing remote.
    /// </summary>
    public const string View =
        "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; img-src 'self' data: cid:; " +
        "style-src 'unsafe-inline'; font-src data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

    /// <summary>
    /// <see cref="View"/> with remote images, style sheets and fonts over HTTPS allowed, for a request that asks for
    /// remote content. Scripts stay off: the sandbox and <c>default-src 'none'</c> still hold.
    /// </summary>
    public const string ViewWithRemoteContent =
        "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; img-src 'self' data: cid: https:; " +
        "style-src 'unsafe-inline' https:; font-src data: https:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

    /// <summary>
    /// The policy of a served MIME part: sandboxed, loading nothing but itself, for the browser that renders a part
    /// inline; an image or video shown on its own still displays.
    /// </summary>
    public const string Part = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'";

    /// <summary>The policy for a view, with or without remote content.</summary>
    /// <param name="allowRemoteContent">Whether the request asked for remote content.</param>
    /// <returns><see cref="ViewWithRemoteContent"/> or <see cref="View"/>.</returns>
    public static string ForView(bool allowRemoteContent) => allowRemoteContent ? ViewWithRemoteContent : View;

    /// <summary>Sets the view's policy on a response before the view writes its HTML.</summary>
    /// <param name="response">The response.</param>
    /// <param name="allowRemoteContent">Whether the request asked for remote content.</param>
    public static void ApplyToView(HttpResponse response, bool allowRemoteContent)
    {
        ArgumentNullException.ThrowIfNull(response);
        response.Headers.ContentSecurityPolicy = ForView(allowRemoteContent);
    }
}
