using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;

namespace Smtpd.Catcher.Http.Security;

/// <summary>
/// A validated, read-only snapshot of <see cref="CatcherHttpSecurityOptions"/> that the middleware reads on every
/// request without locks; changes to the options after <c>UseCatcherSecurity</c> do not reach it.
/// </summary>
internal sealed class CatcherHttpSecurityPolicy
{
    private const string Any = "*";

    private readonly HashSet<string> _allowedHosts;
    private readonly HashSet<string> _corsOrigins;

    public CatcherHttpSecurityPolicy(CatcherHttpSecurityOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _allowedHosts = new HashSet<string>(options.AllowedHosts.Select(NormalizeHost), StringComparer.OrdinalIgnoreCase);
        _corsOrigins = new HashSet<string>(options.CorsOrigins.Select(NormalizeOrigin), StringComparer.OrdinalIgnoreCase);
        AnyHost = _allowedHosts.Contains(Any);
        AnyCorsOrigin = _corsOrigins.Contains(Any);
        CorsOrigins = [.. _corsOrigins.Where(origin => origin != Any)];
        foreach (var path in options.FramablePaths)
        {
            if (!path.HasValue || path.Value == "/")
            {
                throw new ArgumentException($"A framable path must name a folder such as /view, not '{path}'.", nameof(options));
            }
        }

        FramablePaths = [.. options.FramablePaths];
        Users = options.Users.Snapshot();
        MaxRequestBodySize = options.MaxRequestBodySize;
        MaxQueryStringLength = options.MaxQueryStringLength;
    }

    public HttpBasicUsers Users { get; }

    public bool AnyHost { get; }

    public bool AnyCorsOrigin { get; }

    /// <summary>The CORS origins other than <c>*</c>, normalized to <c>scheme://host[:port]</c>.</summary>
    public string[] CorsOrigins { get; }

    public bool CorsEnabled => AnyCorsOrigin || CorsOrigins.Length > 0;

    public PathString[] FramablePaths { get; }

    public long MaxRequestBodySize { get; }

    public int MaxQueryStringLength { get; }

    /// <summary>
    /// Whether a <c>Host</c> name (port already removed) may be served. DNS rebinding needs a name the attacker's DNS
    /// answers, so IP literals are always safe to serve: a browser sends an IP literal as <c>Host</c> only for a page
    /// it loaded from that very address. Any literal is accepted, not only the listener's own, so the catcher
    /// still works behind NAT and Docker port publishing, where the client sees another address than the one bound.
    /// An IPv4 literal must be in the dotted-quad form browsers send (the WHATWG URL standard normalizes
    /// <c>0x7f.1</c> to <c>127.0.0.1</c>), so no name can pass for one.
    /// </summary>
    public bool IsAllowedHost(string host)
    {
        var name = host.EndsWith('.') ? host[..^1] : host;
        if (AnyHost || name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || _allowedHosts.Contains(name))
        {
            return true;
        }

        if (name.Length > 2 && name[0] == '[' && name[^1] == ']')
        {
            return IPAddress.TryParse(name.AsSpan(1, name.Length - 2), out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6;
        }

        return IPAddress.TryParse(name, out var v4) && v4.AddressFamily == AddressFamily.InterNetwork && v4.ToString() == name;
    }

    /// <summary>Whether an <c>Origin</c> header value is one of the CORS origins, and so trusted to mutate.</summary>
    public bool IsTrustedOrigin(string origin) => AnyCorsOrigin || _corsOrigins.Contains(origin);

    /// <summary>Whether a response to this path may be framed by the catcher's own pages.</summary>
    public bool IsFramable(PathString path) => FramablePaths.Any(prefix => path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase));

    /// <summary>Normalizes an <c>--http-host</c> name: lower case, no trailing dot; <c>*</c> stays.</summary>
    /// <exception cref="ArgumentException">Not a host name or IP address, or a name with a port.</exception>
    internal static string NormalizeHost(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var name = value.Trim().TrimEnd('.').ToLowerInvariant();
        if (name == Any)
        {
            return name;
        }

        var bare = name.Length > 2 && name[0] == '[' && name[^1] == ']' ? name[1..^1] : name;
        if (Uri.CheckHostName(bare) == UriHostNameType.Unknown)
        {
            throw new ArgumentException($"'{value}' is not a host name for --http-host (give the name alone, without scheme or port).", nameof(value));
        }

        return name;
    }

    /// <summary>
    /// Normalizes an <c>--api-cors</c> origin to its serialization in an <c>Origin</c> header (RFC 6454 section 6.1):
    /// lower-case scheme and host, no default port, no path; <c>*</c> stays.
    /// </summary>
    /// <exception cref="ArgumentException">Not <c>*</c> nor <c>http(s)://host[:port]</c>.</exception>
    internal static string NormalizeOrigin(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var trimmed = value.Trim();
        if (trimmed == Any)
        {
            return trimmed;
        }

        if (!Uri.TryCreate(trimmed, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.UserInfo.Length > 0 || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            throw new ArgumentException($"'{value}' is not a CORS origin for --api-cors: give * or scheme://host[:port], e.g. http://localhost:3000.", nameof(value));
        }

        return uri.GetComponents(UriComponents.SchemeAndServer, UriFormat.UriEscaped).ToLowerInvariant();
    }
}
