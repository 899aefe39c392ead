using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// HTTP Basic (RFC 7617) on every route once a user is configured: a missing, malformed or wrong
/// <c>Authorization</c> gets <c>401</c> with <c>WWW-Authenticate: Basic realm="smtpd"</c>, which makes a browser ask.
/// The user name of an accepted request is in <see cref="HttpContext.User"/> (authentication type <c>Basic</c>).
/// </summary>
internal sealed class BasicAuthenticationMiddleware(RequestDelegate next, CatcherHttpSecurityPolicy policy)
{
    /// <summary>The challenge sent with every <c>401</c>.</summary>
    public const string Challenge = "Basic realm=\"" + CatcherHttpSecurityOptions.Realm + "\"";

    public Task InvokeAsync(HttpContext context)
    {
        if (TryReadCredentials(context.Request.Headers.Authorization.ToString(), out var user, out var password)
            && policy.Users.Verify(user, password))
        {
            context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user)], "Basic"));
            return next(context);
        }

        context.Response.Headers[HeaderNames.WWWAuthenticate] = Challenge;
        return CatcherHttpResults.WriteErrorAsync(context, StatusCodes.Status401Unauthorized,
            user is null ? "Authentication required" : "Wrong user name or password");
    }

    /// <summary>
    /// Reads <c>Basic base64(user:password)</c>: the scheme without case (RFC 9110 section 11.1), the pair in UTF-8,
    /// split at the first colon (RFC 7617 section 2).
    /// </summary>
    internal static bool TryReadCredentials(string header, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? user, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? password)
    {
        user = null;
        password = null;
        const string Scheme = "Basic ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var encoded = header.AsSpan(Scheme.Length).Trim();
        var bytes = new byte[encoded.Length * 3 / 4 + 3];
        if (!Convert.TryFromBase64Chars(encoded, bytes, out var written))
        {
            return false;
        }

        string pair;
        try
        {
            pair = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes, 0, written);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        var colon = pair.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return false;
        }

        user = pair[..colon];
        password = pair[(colon + 1)..];
        return true;
    }
}
