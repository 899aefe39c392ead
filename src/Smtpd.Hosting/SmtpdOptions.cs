namespace Smtpd.Hosting;

/// <summary>
/// The settings of a hosted Smtpd server: where it listens, its certificate, how long a stop may drain, and the
/// <see cref="SmtpServerOptions"/>. Bound from the <c>Smtpd</c> configuration section, then changed by the
/// delegate given to <c>AddSmtpd</c>, and validated when the host starts.
/// </summary>
/// <remarks>
/// The section is flat: the server's options sit beside the hosting settings.
/// <code>
/// "Smtpd": {
///   "Endpoints": [
///     { "Address": "0.0.0.0", "Port": 587 },
///     { "Port": 465, "ImplicitTls": true },
///     { "Port": 2525, "ProxyProtocol": true, "TrustedProxies": [ "10.0.0.0/8", "192.0.2.10" ] },
///     { "Address": "127.0.0.1", "Port": 24, "Protocol": "Lmtp" }
///   ],
///   "Certificate": { "Path": "mail.pfx", "Password": "..." },
///   "ServerName": "mx.example.com",
///   "MaxMessageSize": 10485760,
///   "CommandTimeout": "00:02:00",
///   "RequireTls": true
/// }
/// </code>
/// Every simple property of <see cref="SmtpServerOptions"/> can be set this way (strings, numbers, booleans,
/// time spans such as <c>00:00:30</c>, and enums such as <c>"Plain, Login"</c>); callbacks and certificates
/// objects are set in code. A key that is neither is a validation error, so a misspelt setting cannot go
/// unnoticed.
/// </remarks>
public sealed class SmtpdOptions
{
    /// <summary>The configuration section the options are bound from: <c>Smtpd</c>.</summary>
    public const string SectionName = "Smtpd";

    /// <summary>
    /// Where to listen: those from configuration, then those added in code. Empty means every interface on
    /// port 25, as <see cref="SmtpServer.Start()"/> does.
    /// </summary>
    public IList<SmtpdEndpointOptions> Endpoints { get; } = [];

    /// <summary>A certificate file to load for STARTTLS and implicit TLS, or <see langword="null"/>. In code, <see cref="SmtpServerOptions.ServerCertificate"/> can be set instead.</summary>
    public SmtpdCertificateOptions? Certificate { get; set; }

    /// <summary>
    /// How long a stop waits for open sessions before it sends them <c>421</c>; <see langword="null"/> (the default)
    /// waits until the host's shutdown timeout (<c>HostOptions.ShutdownTimeout</c>, 30 s by default) runs out.
    /// </summary>
    public TimeSpan? DrainTimeout { get; set; }

    /// <summary>The server's options: limits, TLS and AUTH policy, and callbacks (which registered handlers fill in).</summary>
    public SmtpServerOptions Server { get; } = new();

    /// <summary>Problems met while binding configuration, reported by validation at start.</summary>
    internal List<string> BindingErrors { get; } = [];

    /// <summary>Adds an endpoint.</summary>
    /// <param name="address">An IP address, a host name, or <c>*</c> for every interface.</param>
    /// <param name="port">The port; 0 picks a free one.</param>
    /// <param name="implicitTls">Whether connections start with TLS (port 465 style).</param>
    /// <returns>These options.</returns>
    public SmtpdOptions Listen(string address, int port, bool implicitTls = false)
    {
        Endpoints.Add(new SmtpdEndpointOptions { Address = address, Port = port, ImplicitTls = implicitTls });
        return this;
    }
}

/// <summary>One endpoint of a hosted server, in configuration form.</summary>
public sealed class SmtpdEndpointOptions
{
    /// <summary>An IP address (<c>127.0.0.1</c>, <c>::</c>), a host name (every address it resolves to), or <c>*</c> (the default) for every interface, IPv6 and IPv4.</summary>
    public string Address { get; set; } = "*";

    /// <summary>The port, 0 to 65535; 0 picks a free port. Default 25.</summary>
    public int Port { get; set; } = SmtpServer.DefaultPort;

    /// <summary>Whether connections start with a TLS handshake (RFC 8314, port 465 style). Needs a certificate.</summary>
    public bool ImplicitTls { get; set; }

    /// <summary>
    /// The protocol: <c>Smtp</c> (the default) or <c>Lmtp</c> (RFC 2033), which needs a port other than 25
    /// (<see cref="SmtpListener.Protocol"/>).
    /// </summary>
    public SmtpListenerProtocol Protocol { get; set; }

    /// <summary>
    /// Whether connections start with an HAProxy PROXY protocol header (version 1 or 2) from one of
    /// <see cref="TrustedProxies"/>; see <see cref="SmtpListener.ProxyProtocol"/>. Needs at least one trusted proxy.
    /// </summary>
    public bool ProxyProtocol { get; set; }

    /// <summary>
    /// The proxies allowed to send PROXY headers, as CIDR blocks (<c>10.0.0.0/8</c>, <c>2001:db8::/32</c>) or single
    /// addresses (<c>192.0.2.10</c>); see <see cref="SmtpListener.TrustedProxies"/>.
    /// </summary>
    public IList<string> TrustedProxies { get; } = [];

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Address}:{Port}{(ImplicitTls ? " (implicit TLS)" : string.Empty)}{(Protocol == SmtpListenerProtocol.Lmtp ? " (LMTP)" : string.Empty)}{(ProxyProtocol ? " (PROXY protocol)" : string.Empty)}";

    /// <summary>Reads one <see cref="TrustedProxies"/> entry: a CIDR block, or an address as a block of one.</summary>
    internal static bool TryParseNetwork(string? text, out System.Net.IPNetwork network) => Smtpd.Configuration.NetworkParser.TryParseCidr(text, out network);
}

/// <summary>A certificate file for TLS, in configuration form: PKCS#12, or PEM with a key file.</summary>
public sealed class SmtpdCertificateOptions
{
    /// <summary>The certificate file: a <c>.pfx</c>/<c>.p12</c>, or a PEM certificate when <see cref="KeyPath"/> is set.</summary>
    public string? Path { get; set; }

    /// <summary>The PKCS#12 password, if any.</summary>
    public string? Password { get; set; }

    /// <summary>The PEM private key file, for a PEM certificate.</summary>
    public string? KeyPath { get; set; }
}
