using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// The <c>Content-Type</c> and <c>Content-Disposition</c> to serve a MIME part with (an attachment or inline part,
/// <c>GET /api/v1/message/{ID}/part/{PartID}</c>), chosen so that no part can run script as the catcher's origin.
/// </summary>
/// <remarks>
/// <para>
/// Only types a browser renders without running script are served <c>inline</c>: raster images, audio, video and
/// <c>text/plain</c> (safe with <c>nosniff</c>). HTML, SVG, XML of any kind, JavaScript and the other
/// script-capable types are served as <c>application/octet-stream</c> with <c>attachment</c>: even a client that
/// ignored the disposition would not render them, and a page elsewhere cannot load them with
/// <c>&lt;script src&gt;</c>, which <c>nosniff</c> allows only for JavaScript types. Their real type is in the
/// message's JSON. Every other type keeps its own <c>Content-Type</c> but is always an <c>attachment</c>.
/// </para>
/// <para>
/// The file name comes from hostile mail: control characters and path separators become <c>_</c>, it is cut to 255
/// characters, and <see cref="ContentDispositionHeaderValue.SetHttpFileName"/> quotes and escapes it as
/// <c>filename</c> (ASCII) and <c>filename*</c> (RFC 5987 UTF-8), so a name such as <c>"&gt;&lt;script&gt;.html</c>
/// stays inside its quotes.
/// </para>
/// </remarks>
public sealed class MimePartHeaders
{
    /// <summary>The longest file name served, the common file-system limit.</summary>
    public const int MaxFileNameLength = 255;

    private const string OctetStream = "application/octet-stream";

    /// <summary>Types rendered inline: raster images whose decoders run no script.</summary>
    private static readonly HashSet<string> InlineImageTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        "image/png", "image/apng", "image/jpeg", "image/pjpeg", "image/gif", "image/webp", "image/avif", "image/bmp",
        "image/x-icon", "image/vnd.microsoft.icon",
    };

    /// <summary>Types that can run script or become a document with script when a browser opens them.</summary>
    private static readonly HashSet<string> ScriptCapableTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/xsl", "application/xslt+xml",
        "text/javascript", "application/javascript", "application/x-javascript", "application/ecmascript", "text/ecmascript",
        "text/jscript", "text/vbscript", "application/x-shockwave-flash", "application/pdf", "text/cache-manifest",
        "multipart/x-mixed-replace", "application/mathml+xml",
    };

    private MimePartHeaders(string contentType, ContentDispositionHeaderValue disposition)
    {
        ContentType = contentType;
        ContentDisposition = disposition;
    }

    /// <summary>The <c>Content-Type</c> to send.</summary>
    public string ContentType { get; }

    /// <summary>The <c>Content-Disposition</c> to send: <c>inline</c> or <c>attachment</c>, with the cleaned file name.</summary>
    public ContentDispositionHeaderValue ContentDisposition { get; }

    /// <summary>Whether the part is served <c>inline</c>.</summary>
    public bool IsInline => ContentDisposition.DispositionType.Equals("inline", StringComparison.OrdinalIgnoreCase);

    /// <summary>Decides the headers for a part.</summary>
    /// <param name="contentType">The part's <c>Content-Type</c> as the message gives it (hostile), e.g. <c>image/png</c> or <c>text/plain; charset=utf-8</c>; <see langword="null"/> or malformed means <c>application/octet-stream</c>.</param>
    /// <param name="fileName">The part's file name as the message gives it (hostile), or <see langword="null"/>.</param>
    /// <param name="download">Whether the request asks for a download (<c>attachment</c>) even for a type safe inline.</param>
    /// <returns>The headers.</returns>
    public static MimePartHeaders For(string? contentType, string? fileName, bool download = false)
    {
        var served = OctetStream;
        var inline = false;
        if (MediaTypeHeaderValue.TryParse(contentType, out var parsed) && parsed.Type.HasValue && parsed.SubType.HasValue)
        {
            var mediaType = parsed.MediaType.Value!.ToLowerInvariant();
            if (IsScriptCapable(parsed))
            {
                served = OctetStream;
            }
            else if (mediaType == "text/plain")
            {
                served = parsed.Charset.HasValue && IsToken(parsed.Charset.Value!) ? $"text/plain; charset={parsed.Charset.Value}" : "text/plain";
                inline = true;
            }
            else
            {
                served = mediaType;
                inline = InlineImageTypes.Contains(mediaType) || parsed.Type.Equals("audio", StringComparison.OrdinalIgnoreCase)
                    || parsed.Type.Equals("video", StringComparison.OrdinalIgnoreCase);
            }
        }

        var disposition = new ContentDispositionHeaderValue(inline && !download ? "inline" : "attachment");
        if (CleanFileName(fileName) is { } name)
        {
            disposition.SetHttpFileName(name);
        }

        return new MimePartHeaders(served, disposition);
    }

    /// <summary>Sets <c>Content-Type</c>, <c>Content-Disposition</c> and the <see cref="CatcherContentSecurityPolicy.Part"/> policy on a response.</summary>
    /// <param name="response">The response, before its body is written.</param>
    public void ApplyTo(HttpResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        response.ContentType = ContentType;
        response.Headers.ContentDisposition = ContentDisposition.ToString();
        response.Headers.ContentSecurityPolicy = CatcherContentSecurityPolicy.Part;
    }

    private static bool IsScriptCapable(MediaTypeHeaderValue type) =>
        ScriptCapableTypes.Contains(type.MediaType.Value!)
        || type.Suffix.Equals("xml", StringComparison.OrdinalIgnoreCase)
        || type.SubType.Value!.Contains("script", StringComparison.OrdinalIgnoreCase)
        || type.SubType.Value!.Contains("html", StringComparison.OrdinalIgnoreCase);

    /// <summary>The charset goes back into a header, so it must be an RFC 9110 token: no quotes, spaces or separators.</summary>
    private static bool IsToken(string value) =>
        value.Length is > 0 and <= 64 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or '+');

    private static string? CleanFileName(string? fileName)
    {
        if (string.IsNullOrWhiteSpace(fileName))
        {
            return null;
        }

        var chars = fileName.Trim().ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsControl(chars[i]) || chars[i] is '/' or '\\')
            {
                chars[i] = '_';
            }
        }

        var cleaned = new string(chars, 0, Math.Min(chars.Length, MaxFileNameLength));
        // Never end on a lone high surrogate after the cut.
        cleaned = char.IsHighSurrogate(cleaned[^1]) ? cleaned[..^1] : cleaned;
        return cleaned.Length > 0 ? cleaned : null;
    }
}
