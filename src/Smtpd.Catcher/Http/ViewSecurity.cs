namespace Smtpd.Catcher.Http;

/// <summary>
/// The response rules for showing hostile mail to a browser: message HTML only in a sandbox with nothing but local
/// images and inline styles, and never a part served inline as something a browser would run.
/// </summary>
internal static class ViewSecurity
{
    /// <summary>
    /// The policy of <c>/view/{ID}.html</c>: <c>sandbox</c> gives the document an opaque origin with no script, forms
    /// or top navigation; <c>default-src 'none'</c> blocks everything the next directives do not allow: images from
    /// the catcher (rewritten <c>cid:</c> parts) or <c>data:</c> URLs, and the inline styles mail is written with.
    /// </summary>
    public const string ViewPolicy = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'";

    /// <summary>The policy when the request asks for remote content (<c>?remote=1</c>): images and styles from anywhere, still no script.</summary>
    public const string ViewPolicyWithRemote = "sandbox; default-src 'none'; img-src 'self' data: http: https:; style-src 'unsafe-inline' http: https:";

    /// <summary>Content types a browser shows without running anything, so a part of one of them may be served inline.</summary>
    private static readonly HashSet<string> InlineSafeTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif", "text/plain",
    };

    /// <summary>
    /// Whether a part may be served with <c>Content-Disposition: inline</c>. HTML, SVG (which runs script), XML,
    /// PDF and everything unknown are served as attachments: opened from the catcher's origin they could read its
    /// API.
    /// </summary>
    /// <param name="mimeType">The part's content type, without parameters.</param>
    /// <returns>Whether inline is safe.</returns>
    public static bool IsInlineSafe(string mimeType) => InlineSafeTypes.Contains(mimeType);
}
