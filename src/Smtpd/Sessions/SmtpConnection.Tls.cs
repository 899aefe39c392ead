using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Smtpd.IO;
using Smtpd.Logging;

namespace Smtpd.Sessions;

/// <summary>TLS: STARTTLS (RFC 3207) and implicit TLS (RFC 8314).</summary>
internal sealed partial class SmtpConnection
{
    // One certificate context per certificate, so the chain is built once rather than at every handshake.
    private static readonly ConditionalWeakTable<X509Certificate2, SslStreamCertificateContext> CertificateContexts = [];

    /// <summary>
    /// Runs the TLS handshake over the socket and moves the session onto the encrypted stream. Everything learned
    /// before it is forgotten (RFC 3207 4.2): the client must send EHLO again, and any transaction is gone.
    /// </summary>
    /// <returns><see langword="false"/> when the handshake failed; only this connection is affected.</returns>
    private async ValueTask<bool> UpgradeToTlsAsync()
    {
        await _input.CompleteAsync();
        await _output.CompleteAsync();
        var tls = new SslStream(_tlsPrefix is null ? _network : new PrefixedStream(_tlsPrefix, _network), leaveInnerStreamOpen: true);
        _tlsPrefix = null;
        _transport = tls;
        using var timeout = _handshakeTimeout ?? new CancellationTokenSource(_options.TlsHandshakeTimeout, _time);
        _handshakeTimeout = null;
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_callbacks.Token, timeout.Token);
        try
        {
            var authentication = new SslServerAuthenticationOptions
            {
                ClientCertificateRequired = _options.RequestClientCertificate,
                // Any client certificate is accepted here and judged by the application's callbacks, which see it
                // in SmtpSessionContext.ClientCertificate; the server has no trust store of its own to check it against.
#pragma warning disable CA5359
                RemoteCertificateValidationCallback = static (_, _, _, _) => true,
#pragma warning restore CA5359
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            };
            if (_options.ServerCertificateSelector is null)
            {
                authentication.ServerCertificateContext = ContextFor(_options.ServerCertificate!);
            }
            else
            {
                authentication.ServerCertificateSelectionCallback = (_, hostName) => SelectCertificate(hostName)!;
            }

            await tls.AuthenticateAsServerAsync(authentication, handshake.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or InvalidOperationException or NotSupportedException)
        {
            Log.TlsHandshakeFailed(_logger, ex);
            return false;
        }

        (_input, _output) = CreatePipes(tls);
        _protocol.Output = _output;
        _context.IsSecure = true;
        _context.TlsProtocol = tls.SslProtocol;
        _context.TlsCipherSuite = tls.NegotiatedCipherSuite;
        _context.SniHostName = string.IsNullOrEmpty(tls.TargetHostName) ? null : tls.TargetHostName;
        _context.ClientCertificate = tls.RemoteCertificate switch
        {
            null => null,
            X509Certificate2 certificate => certificate,
            var certificate => new X509Certificate2(certificate),
        };
        Log.TlsEstablished(_logger, tls.SslProtocol, tls.NegotiatedCipherSuite, _context.SniHostName);

        _protocol.TlsEstablished();

        // The client speaks first after a handshake (EHLO again): its line has a fresh deadline.
        _readDeadline = _commandDeadline = Deadline(_options.CommandTimeout);
        return true;
    }

    private X509Certificate2? SelectCertificate(string? hostName) =>
        _options.ServerCertificateSelector?.Invoke(_context, string.IsNullOrEmpty(hostName) ? null : hostName)
        ?? _options.ServerCertificate;

    /// <summary>The certificate context, cached per certificate.</summary>
    private static SslStreamCertificateContext ContextFor(X509Certificate2 certificate) =>
        CertificateContexts.GetValue(certificate, static c => SslStreamCertificateContext.Create(c, additionalCertificates: null, offline: true));
}
