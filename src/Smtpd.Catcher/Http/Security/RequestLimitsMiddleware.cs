using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// Caps the query string (<c>414</c>) and the request body (<c>413</c>) before any endpoint runs. A declared
/// <c>Content-Length</c> over the cap is refused at once; for a chunked body, the request's
/// <see cref="IHttpMaxRequestBodySizeFeature"/> is lowered to the cap, so the server fails the read that crosses it
/// and the request is answered <c>413</c> here, whatever the endpoint was doing with the body.
/// </summary>
internal sealed class RequestLimitsMiddleware(RequestDelegate next, CatcherHttpSecurityPolicy policy)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var queryLength = request.QueryString.HasValue ? request.QueryString.Value!.Length - 1 : 0;
        if (queryLength > policy.MaxQueryStringLength)
        {
            await CatcherHttpResults.WriteErrorAsync(context, StatusCodes.Status414UriTooLong,
                $"The query string is {queryLength.ToString(CultureInfo.InvariantCulture)} characters; the limit is {policy.MaxQueryStringLength.ToString(CultureInfo.InvariantCulture)}");
            return;
        }

        if (request.ContentLength > policy.MaxRequestBodySize)
        {
            await WriteBodyTooLargeAsync(context);
            return;
        }

        // Read-only once the body has been read, and for upgraded (WebSocket) requests, which have no body to cap.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = policy.MaxRequestBodySize;
        }

        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge && !context.Response.HasStarted)
        {
            await WriteBodyTooLargeAsync(context);
        }
    }

    private Task WriteBodyTooLargeAsync(HttpContext context) =>
        CatcherHttpResults.WriteErrorAsync(context, StatusCodes.Status413PayloadTooLarge,
            $"The request body is larger than the limit of {policy.MaxRequestBodySize.ToString(CultureInfo.InvariantCulture)} bytes");
}
