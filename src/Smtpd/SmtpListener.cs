using System.Net;

namespace Smtpd;

/// <summary>One listening endpoint of a server, and whether it speaks implicit TLS.</summary>
/// <param name="EndPoint">The address and port; port 0 picks a free port.</param>
/// <param name="ImplicitTls">
/// Whether connections start with a TLS handshake before the greeting (RFC 8314 "submissions", port 465 style).
/// Requires <see cref="SmtpServerOptions.ServerCertificate"/> or <see cref="SmtpServerOptions.ServerCertificateSelector"/>.
/// </param>
public sealed record SmtpListener(IPEndPoint EndPoint, bool ImplicitTls = false)
{
    /// <inheritdoc/>
    public override string ToString() => ImplicitTls ? $"{EndPoint} (implicit TLS)" : EndPoint.ToString();
}
