using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Smtpd.Hosting;

/// <summary>Starts the server with the host and stops it, draining open sessions, when the host stops.</summary>
internal sealed class SmtpdHostedService(SmtpServer server, IOptions<SmtpdOptions> options) : IHostedService
{
    /// <summary>The longest wait <see cref="Task.WaitAsync(TimeSpan)"/> accepts: in effect, until the host's token fires.</summary>
    private static readonly TimeSpan UntilTheHostGivesUp = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var endpoints = options.Value.Endpoints.Count == 0 ? [new SmtpdEndpointOptions()] : options.Value.Endpoints;
        var listeners = new List<SmtpListener>();
        foreach (var endpoint in endpoints)
        {
            // Validation has already refused entries that do not parse.
            var trusted = endpoint.TrustedProxies
                .Select(p => SmtpdEndpointOptions.TryParseNetwork(p, out var network) ? network : throw new InvalidOperationException($"Endpoint {endpoint}: bad TrustedProxies entry '{p}'."))
                .ToArray();
            foreach (var address in await ResolveAsync(endpoint.Address, cancellationToken))
            {
                listeners.Add(new SmtpListener(new IPEndPoint(address, endpoint.Port), endpoint.ImplicitTls)
                {
                    ProxyProtocol = endpoint.ProxyProtocol,
                    TrustedProxies = trusted,
                    Protocol = endpoint.Protocol,
                });
            }
        }

        server.Start(listeners.ToArray());
    }

    /// <summary>
    /// Stops listening at once, then lets open sessions finish until <see cref="SmtpdOptions.DrainTimeout"/>, or
    /// until the host's shutdown timeout cancels <paramref name="cancellationToken"/>; sessions still open then
    /// get <c>421 4.3.2</c> and are closed.
    /// </summary>
    public Task StopAsync(CancellationToken cancellationToken) =>
        server.StopAsync(options.Value.DrainTimeout ?? UntilTheHostGivesUp, cancellationToken);

    internal static bool IsValidAddress(string? address) =>
        address is "*" || IPAddress.TryParse(address, out _) || Uri.CheckHostName(address) == UriHostNameType.Dns;

    private static async Task<IPAddress[]> ResolveAsync(string address, CancellationToken cancellationToken)
    {
        if (address == "*")
        {
            return [Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any];
        }

        return IPAddress.TryParse(address, out var literal)
            ? [literal]
            : (await Dns.GetHostAddressesAsync(address, cancellationToken)).Distinct().ToArray();
    }
}
