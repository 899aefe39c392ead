using Microsoft.AspNetCore.Http;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// Plain-text error answers with a one-line reason, the shape Mailpit's API gives its errors (Go's <c>http.Error</c>:
/// <c>text/plain; charset=utf-8</c>, the reason and a newline), for the middleware and the route authors alike.
/// </summary>
public static class CatcherHttpResults
{
    /// <summary>The content type of every error answer.</summary>
    public const string PlainTextUtf8 = "text/plain; charset=utf-8";

    /// <summary>A <c>400 Bad Request</c> whose body is <paramref name="reason"/> on one line, e.g. for malformed JSON or a bad date.</summary>
    /// <param name="reason">Why the request is refused; line breaks become spaces, so a value echoed in it cannot add lines.</param>
    /// <returns>The result.</returns>
    public static IResult BadRequest(string reason) => Error(StatusCodes.Status400BadRequest, reason);

    /// <summary>An answer with <paramref name="statusCode"/> whose body is <paramref name="reason"/> on one line.</summary>
    /// <param name="statusCode">The status code.</param>
    /// <param name="reason">Why; line breaks become spaces.</param>
    /// <returns>The result.</returns>
    public static IResult Error(int statusCode, string reason) =>
        Results.Text(OneLine(reason) + "\n", PlainTextUtf8, statusCode: statusCode);

    /// <summary>Writes a one-line plain-text error straight to the response, for middleware that short-circuits.</summary>
    internal static Task WriteErrorAsync(HttpContext context, int statusCode, string reason)
    {
        context.Response.StatusCode = statusCode;
        context.Response.ContentType = PlainTextUtf8;
        return context.Response.WriteAsync(OneLine(reason) + "\n", context.RequestAborted);
    }

    /// <summary>Replaces every control character (CR and LF among them) with a space.</summary>
    internal static string OneLine(string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        return string.Create(reason.Length, reason, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = char.IsControl(source[i]) ? ' ' : source[i];
            }
        });
    }
}
