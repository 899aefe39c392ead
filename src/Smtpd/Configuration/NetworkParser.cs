using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Smtpd.Configuration;

/// <summary>
/// Reads a CIDR block from a setting, for every host of the library (Smtpd.Hosting's <c>TrustedProxies</c>, the
/// CLI's <c>--reject-host</c>): one parser, so the same text means the same block everywhere.
/// </summary>
internal static class NetworkParser
{
    /// <summary>
    /// Parses <c>10.0.0.0/8</c>, <c>2001:db8::/32</c>, or a bare address as a block of one host. Refused: an IPv4
    /// address not written in four parts (<see cref="IPAddress"/> also takes legacy forms such as <c>10.0.0</c>), a
    /// prefix longer than the address, and bits set past the prefix (<c>10.0.0.1/8</c> is more likely a typo for one
    /// host than a wish to cover sixteen million, so it is refused rather than masked).
    /// </summary>
    /// <param name="text">The setting's text; surrounding white space is ignored.</param>
    /// <param name="network">The block, when the text is one.</param>
    /// <returns>Whether <paramref name="text"/> is a CIDR block.</returns>
    public static bool TryParseCidr(string? text, out IPNetwork network)
    {
        network = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var value = text.Trim();
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? value : value[..slash];
        if (!IPAddress.TryParse(addressText, out var address) || !IsWrittenInFull(addressText, address))
        {
            return false;
        }

        var bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = bits;
        if (slash >= 0 && !(int.TryParse(value.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) && prefix <= bits))
        {
            return false;
        }

        try
        {
            var candidate = new IPNetwork(address, prefix);
            if (!candidate.BaseAddress.Equals(address))
            {
                return false;
            }

            network = candidate;
            return true;
        }
        catch (ArgumentException)
        {
            // Bits set past the prefix: refused, not masked (see above).
            return false;
        }
    }

    private static bool IsWrittenInFull(string text, IPAddress address) =>
        address.AddressFamily != AddressFamily.InterNetwork || text.Count(c => c == '.') == 3;
}
