using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Smtpd.Cli.Configuration;

namespace Smtpd.Cli.Catcher;

/// <summary>Loads the TLS certificate from PEM or PFX files, or makes a self-signed one once and keeps it.</summary>
internal static class Certificates
{
    /// <summary>The self-signed certificate's file name, next to the store.</summary>
    public const string SelfSignedFileName = "tls-self-signed.pfx";

    /// <summary>
    /// Loads <paramref name="certPath"/>: PEM (with the key in <paramref name="keyPath"/>, or in the same file)
    /// or PKCS#12/PFX without a password.
    /// </summary>
    /// <param name="certPath">The certificate file.</param>
    /// <param name="keyPath">The PEM private key file, if separate.</param>
    /// <returns>The certificate with its private key.</returns>
    /// <exception cref="SettingException">The files cannot be read or hold no usable certificate and key.</exception>
    public static X509Certificate2 Load(string certPath, string? keyPath)
    {
        try
        {
            return Smtpd.Configuration.CertificateLoader.Load(certPath, keyPath, password: null);
        }
        catch (Smtpd.Configuration.CertificateLoadException ex)
        {
            // The core says what is wrong; the flag it is reported against is the CLI's.
            throw new SettingException(ex.KeyAtFault ? "--tls-key" : "--tls-cert", ex.Message);
        }
    }

    /// <summary>
    /// Returns the self-signed certificate kept at <paramref name="path"/>, making it first when the file is missing,
    /// unreadable or close to expiry. Reusing it lets clients pin or trust it once.
    /// </summary>
    /// <param name="path">Where the certificate is kept.</param>
    /// <returns>The certificate, with its private key.</returns>
    /// <exception cref="SettingException">The file cannot be written.</exception>
    public static X509Certificate2 LoadOrCreateSelfSigned(string path)
    {
        if (File.Exists(path))
        {
            try
            {
                var existing = X509CertificateLoader.LoadPkcs12FromFile(path, password: null);
                if (existing.HasPrivateKey && existing.NotAfter > DateTime.Now.AddDays(7))
                {
                    return existing;
                }

                existing.Dispose();
            }
            catch (CryptographicException)
            {
                // A damaged file is replaced below.
            }
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=smtpd mail catcher", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        var host = Dns.GetHostName();
        if (!string.IsNullOrEmpty(host) && !host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            names.AddDnsName(host);
        }

        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(5));
        var pfx = created.Export(X509ContentType.Pkcs12);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            var temporary = path + ".tmp";
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                // The private key is for this user only.
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var file = new FileStream(temporary, options))
            {
                file.Write(pfx);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SettingException("--tls-self-signed", $"cannot keep the certificate at {path}: {ex.Message}");
        }

        return X509CertificateLoader.LoadPkcs12(pfx, password: null);
    }
}
