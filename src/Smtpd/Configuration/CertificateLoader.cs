using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Smtpd.Configuration;

/// <summary>
/// Loads a server certificate with its private key from files, for every host of the library (Smtpd.Hosting's
/// <c>Certificate</c> section, the CLI's <c>--tls-cert</c>/<c>--tls-key</c>): PEM with the key in a separate file
/// or in the same one, or PKCS#12/PFX.
/// </summary>
internal static class CertificateLoader
{
    /// <summary>Loads the certificate.</summary>
    /// <param name="certificatePath">The certificate file: PEM (recognised by its <c>-----BEGIN</c> line) or PKCS#12.</param>
    /// <param name="keyPath">The PEM private key file, or <see langword="null"/> when the key is in the certificate file.</param>
    /// <param name="password">The PKCS#12 password or the encrypted PEM key's, or <see langword="null"/>.</param>
    /// <returns>The certificate with its private key, usable by <see cref="System.Net.Security.SslStream"/> on every platform.</returns>
    /// <exception cref="CertificateLoadException">The files cannot be read or hold no usable certificate and key.</exception>
    public static X509Certificate2 Load(string certificatePath, string? keyPath, string? password)
    {
        bool isPem;
        try
        {
            using var file = File.OpenRead(certificatePath);
            var head = new byte[Math.Min(file.Length, 64)];
            file.ReadExactly(head);
            isPem = System.Text.Encoding.ASCII.GetString(head).Contains("-----BEGIN", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CertificateLoadException($"cannot read {certificatePath}: {ex.Message}", keyAtFault: false, ex);
        }

        if (!isPem && keyPath is not null)
        {
            throw new CertificateLoadException("a PKCS#12 (PFX) file carries its own key; give a key file only with a PEM certificate", keyAtFault: true);
        }

        X509Certificate2 certificate;
        try
        {
            if (isPem)
            {
                using var pem = string.IsNullOrEmpty(password)
                    ? X509Certificate2.CreateFromPemFile(certificatePath, keyPath ?? certificatePath)
                    : X509Certificate2.CreateFromEncryptedPemFile(certificatePath, password, keyPath ?? certificatePath);

                // A PEM key is ephemeral, which SChannel on Windows refuses: a round trip through PKCS#12 gives one
                // that every platform's TLS stack can use.
                certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), password: null);
            }
            else
            {
                certificate = X509CertificateLoader.LoadPkcs12FromFile(certificatePath, password);
            }
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            var keyAtFault = keyPath is not null && ex.Message.Contains("key", StringComparison.OrdinalIgnoreCase);
            throw new CertificateLoadException($"cannot load the certificate from {certificatePath}{(keyPath is null ? "" : " and " + keyPath)}: {ex.Message}", keyAtFault, ex);
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new CertificateLoadException($"{certificatePath} has no private key", keyAtFault: isPem);
        }

        return certificate;
    }
}

/// <summary>A certificate could not be loaded; the message says why, in words a host can show as they are.</summary>
/// <param name="message">Why.</param>
/// <param name="keyAtFault">Whether the key file (rather than the certificate file) is the likely culprit, so a host can name the right setting.</param>
/// <param name="inner">The underlying error, if any.</param>
internal sealed class CertificateLoadException(string message, bool keyAtFault, Exception? inner = null) : Exception(message, inner)
{
    public bool KeyAtFault { get; } = keyAtFault;
}
