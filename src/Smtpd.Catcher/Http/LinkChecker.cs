using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.WebUtilities;

namespace Smtpd.Catcher.Http;

/// <summary>
/// Mailpit's link check (<c>GET /api/v1/message/{ID}/link-check</c>): a HEAD request to each link of a message, and
/// the status each got. The links come from hostile mail, so the requests are bounded every way a message could
/// abuse them: at most <see cref="MaxLinks"/> per message, a timeout per request, two at a time per host and
/// <see cref="MaxConcurrent"/> in all, at most <see cref="MaxRedirects"/> redirects, results remembered for a minute
/// (a client looping on the route cannot multiply the outbound load), and no connection to a private, loopback or
/// otherwise reserved address unless <see cref="CatcherHttpOptions.AllowInternalLinkChecks"/> says so (the catcher
/// would otherwise probe the network it runs in for whoever sends it mail).
/// </summary>
internal sealed class LinkChecker : IDisposable
{
    /// <summary>The most links one check requests, as Mailpit: a newsletter's worth, and a bound on a hostile one.</summary>
    public const int MaxLinks = 100;

    /// <summary>The most requests in flight across every check.</summary>
    public const int MaxConcurrent = 16;

    /// <summary>The most requests in flight to one host, so a message of 100 links to one site is not a burst at it.</summary>
    public const int MaxPerHost = 2;

    /// <summary>The most redirects followed with <c>follow=true</c>; one more is reported as an error, as Mailpit does.</summary>
    public const int MaxRedirects = 3;

    /// <summary>The status Mailpit reports for a link to a reserved address it refused to request.</summary>
    public const int BlockedStatusCode = 451;

    /// <summary>How long a result is reused for the same link.</summary>
    internal static readonly TimeSpan ResultLifetime = TimeSpan.FromMinutes(1);

    /// <summary>The most results remembered; the memory is emptied when full.</summary>
    private const int MaxRemembered = 10_000;

    /// <summary>
    /// Longer links are checked but not remembered, so the memory of results stays under MaxRemembered times this
    /// (20 MB) whatever links hostile mail carries; real links are far shorter (browsers' practical limit is 2,000).
    /// </summary>
    internal const int MaxRememberedLength = 2048;

    private const string BlockedStatus = "Blocked private/reserved address";

    private const int HostStripes = 64;

    private readonly HttpClient _client;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _inFlight = new(MaxConcurrent, MaxConcurrent);
    /// <summary>
    /// The per-host gates, striped by the host's hash: a fixed number, so ever-new hosts in hostile mail cost no
    /// memory; two hosts that share a stripe share its two slots.
    /// </summary>
    private readonly SemaphoreSlim[] _perHost = [.. Enumerable.Range(0, HostStripes).Select(_ => new SemaphoreSlim(MaxPerHost, MaxPerHost))];
    private readonly ConcurrentDictionary<(string Url, bool Follow), (ApiCheckedLink Link, DateTimeOffset Until)> _remembered = new();

    /// <summary>Creates the checker.</summary>
    /// <param name="options">The API's options: the timeout and whether reserved addresses may be requested.</param>
    /// <param name="time">The clock of the remembered results.</param>
    public LinkChecker(CatcherHttpOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _time = time ?? TimeProvider.System;
        var allowInternal = options.AllowInternalLinkChecks;
        var handler = new SocketsHttpHandler
        {
            // Redirects are followed here, one hop at a time, so each hop's address is checked like the first.
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            ConnectTimeout = options.LinkCheckTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            // The address is checked after the name is resolved and before connecting, so a name that resolves to
            // a reserved address (DNS rebinding included) is refused as well as a literal one.
            ConnectCallback = (context, cancellationToken) => ConnectAsync(context.DnsEndPoint, allowInternal, cancellationToken),
        };
        _client = new HttpClient(handler) { Timeout = options.LinkCheckTimeout };
        _client.DefaultRequestHeaders.UserAgent.ParseAdd("smtpd/" + (typeof(LinkChecker).Assembly.GetName().Version?.ToString(3) ?? "0"));
    }

    /// <summary>Requests every link and counts the failures.</summary>
    /// <param name="links">The links, at most <see cref="MaxLinks"/> are requested.</param>
    /// <param name="follow">Whether to follow redirects and report the final status.</param>
    /// <param name="cancellationToken">Cancelled when the client goes away.</param>
    /// <returns>Mailpit's answer: each link with its status, and the count of those that failed.</returns>
    public async Task<ApiLinkCheck> CheckAsync(IReadOnlyList<string> links, bool follow, CancellationToken cancellationToken)
    {
        var checks = links.Take(MaxLinks).Select(link => CheckOneAsync(link, follow, cancellationToken)).ToArray();
        var results = await Task.WhenAll(checks).ConfigureAwait(false);
        return new ApiLinkCheck { Errors = results.Count(r => r.StatusCode is 0 or >= 400), Links = results };
    }

    /// <summary>How many results are remembered now.</summary>
    internal int Remembered => _remembered.Count;

    /// <inheritdoc/>
    public void Dispose()
    {
        _client.Dispose();
        _inFlight.Dispose();
        foreach (var gate in _perHost)
        {
            gate.Dispose();
        }
    }

    /// <summary>Whether an address is one a message may not make the catcher connect to: anything but the public unicast internet.</summary>
    /// <param name="address">The resolved address.</param>
    /// <returns>True for loopback, private (RFC 1918, RFC 4193), link-local, CGNAT (RFC 6598), multicast, unspecified and other reserved ranges.</returns>
    internal static bool IsReserved(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
        {
            return true;
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var bytes = address.GetAddressBytes();
            // RFC 4193 unique local fc00::/7, RFC 4291 link-local fe80::/10 and multicast ff00::/8, and the
            // documentation prefix 2001:db8::/32 (RFC 3849).
            return (bytes[0] & 0xFE) == 0xFC || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast
                || (bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0D && bytes[3] == 0xB8);
        }

        var b = address.GetAddressBytes();
        return b[0] switch
        {
            0 or 10 or 127 => true, // "this network", RFC 1918, loopback
            100 => b[1] is >= 64 and <= 127, // RFC 6598 shared address space
            169 => b[1] == 254, // RFC 3927 link-local (cloud metadata services live here)
            172 => b[1] is >= 16 and <= 31, // RFC 1918
            192 => (b[1] == 168) || (b[1] == 0 && b[2] is 0 or 2) || (b[1] == 88 && b[2] == 99), // RFC 1918, IETF and TEST-NET-1, 6to4 relay
            198 => b[1] is 18 or 19 || (b[1] == 51 && b[2] == 100), // RFC 2544 benchmarking, TEST-NET-2
            203 => b[1] == 0 && b[2] == 113, // TEST-NET-3
            >= 224 => true, // multicast and reserved
            _ => false,
        };
    }

    private static async ValueTask<Stream> ConnectAsync(DnsEndPoint endPoint, bool allowInternal, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(endPoint.Host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endPoint.Host, cancellationToken).ConfigureAwait(false);
        if (!allowInternal && addresses.Any(IsReserved))
        {
            throw new ReservedAddressException(endPoint.Host);
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endPoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task<ApiCheckedLink> CheckOneAsync(string link, bool follow, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (_remembered.TryGetValue((link, follow), out var known) && known.Until > now)
        {
            return known.Link;
        }

        var result = await RequestAsync(link, follow, cancellationToken).ConfigureAwait(false);
        if (link.Length > MaxRememberedLength)
        {
            return result;
        }

        if (_remembered.Count >= MaxRemembered)
        {
            _remembered.Clear();
        }

        _remembered[(link, follow)] = (result, now + ResultLifetime);
        return result;
    }

    private async Task<ApiCheckedLink> RequestAsync(string link, bool follow, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(link, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
        {
            return new ApiCheckedLink { URL = link, Status = "invalid URL" };
        }

        try
        {
            for (var hops = 0; ; hops++)
            {
                var status = await HeadAsync(uri, cancellationToken).ConfigureAwait(false);
                if (!follow || status.Location is null || (int)status.Code is < 300 or > 399)
                {
                    return new ApiCheckedLink { URL = link, StatusCode = (int)status.Code, Status = ReasonPhrases.GetReasonPhrase((int)status.Code) };
                }

                if (hops == MaxRedirects)
                {
                    return new ApiCheckedLink { URL = link, Status = "too many redirects" };
                }

                var next = new Uri(uri, status.Location);
                if (next.Scheme is not ("http" or "https"))
                {
                    return new ApiCheckedLink { URL = link, Status = $"blocked redirect to a {next.Scheme} URL" };
                }

                uri = next;
            }
        }
        catch (HttpRequestException ex) when (ex.InnerException is ReservedAddressException)
        {
            return new ApiCheckedLink { URL = link, StatusCode = BlockedStatusCode, Status = BlockedStatus };
        }
        catch (HttpRequestException ex)
        {
            return new ApiCheckedLink { URL = link, Status = Reason(ex) };
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ApiCheckedLink { URL = link, Status = "timeout" };
        }
    }

    private async Task<(HttpStatusCode Code, Uri? Location)> HeadAsync(Uri uri, CancellationToken cancellationToken)
    {
        var host = _perHost[(StringComparer.OrdinalIgnoreCase.GetHashCode(uri.Host) & int.MaxValue) % HostStripes];
        await host.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _inFlight.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Head, uri);
                using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
                return (response.StatusCode, response.Headers.Location);
            }
            finally
            {
                _inFlight.Release();
            }
        }
        finally
        {
            host.Release();
        }
    }

    /// <summary>The last line of why a request failed, without .NET's framing: "Connection refused (host:80)".</summary>
    private static string Reason(HttpRequestException ex)
    {
        var innermost = (Exception)ex;
        while (innermost.InnerException is { } inner)
        {
            innermost = inner;
        }

        return innermost.Message.ReplaceLineEndings(" ").Trim().TrimEnd('.');
    }

    /// <summary>Thrown by the connect step for a reserved address; the check reports it as Mailpit does.</summary>
    private sealed class ReservedAddressException(string host) : IOException($"{host} resolves to a private or reserved address");
}
