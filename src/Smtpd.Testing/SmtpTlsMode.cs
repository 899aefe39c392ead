namespace Smtpd.Testing;

/// <summary>How a test server offers TLS.</summary>
public enum SmtpTlsMode
{
    /// <summary>Plaintext only (the default).</summary>
    None,

    /// <summary>Plaintext first, with STARTTLS offered (RFC 3207): port 587 style.</summary>
    StartTls,

    /// <summary>TLS from the first byte (RFC 8314): port 465 style.</summary>
    ImplicitTls,
}
