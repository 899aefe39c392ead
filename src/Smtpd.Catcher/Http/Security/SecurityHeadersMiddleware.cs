using Microsoft.AspNetCore.Http;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// Adds the headers every response carries, whatever answered it (an endpoint, a rejection here, or a 404 from
/// routing): <c>X-Content-Type-Options: nosniff</c>, so a browser never renders hostile mail as another type than
/// the one served; <c>Referrer-Policy: no-referrer</c>, so a link clicked in a message does not tell its site the
/// catcher's address and message ID; and <c>X-Frame-Options</c>: <c>DENY</c>, or <c>SAMEORIGIN</c> with the
/// sandboxing <see cref="CatcherContentSecurityPolicy.View"/> policy on the framable paths.
/// </summary>
/// <remarks>The headers are set when the response starts, so an exception handler that clears the response keeps them.</remarks>
internal sealed class SecurityHeadersMiddleware(RequestDelegate next, CatcherHttpSecurityPolicy policy)
{
    public Task InvokeAsync(HttpContext context)
    {
        var framable = policy.IsFramable(context.Request.Path);
        context.Response.OnStarting(static state =>
        {
            var (response, framable) = ((HttpResponse, bool))state;
            var headers = response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.XFrameOptions = framable ? "SAMEORIGIN" : "DENY";
            if (framable && string.IsNullOrEmpty(headers.ContentSecurityPolicy))
            {
                headers.ContentSecurityPolicy = CatcherContentSecurityPolicy.View;
            }

            return Task.CompletedTask;
        }, (context.Response, framable));
        return next(context);
    }
}
