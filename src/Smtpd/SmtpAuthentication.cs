using System.Security.Cryptography;
using System.Text;

namespace Smtpd;

/// <summary>The SASL mechanisms the server can offer for AUTH (RFC 4954).</summary>
[Flags]
public enum SmtpAuthenticationMechanisms
{
    /// <summary>None.</summary>
    None = 0,

    /// <summary>PLAIN (RFC 4616): identity and password in one response.</summary>
    Plain = 1,

    /// <summary>LOGIN: user name and password in two responses; widespread in clients.</summary>
    Login = 2,

    /// <summary>CRAM-MD5 (RFC 2195): a challenge-response; needs the plaintext password on the server, so it is opt-in.</summary>
    CramMd5 = 4,

    /// <summary>XOAUTH2 (Google and Microsoft): a bearer token.</summary>
    XOAuth2 = 8,

    /// <summary>OAUTHBEARER (RFC 7628): a bearer token.</summary>
    OAuthBearer = 16,

    /// <summary>Every mechanism but CRAM-MD5: the default.</summary>
    Default = Plain | Login | XOAuth2 | OAuthBearer,
}

/// <summary>What a client presented in AUTH, as handed to <see cref="SmtpServerOptions.Authenticate"/>.</summary>
/// <remarks>
/// The identities never contain CR, LF or NUL: such input is refused with 501 before the callback runs.
/// The password and token are never logged.
/// </remarks>
public sealed class SmtpAuthentication
{
    private readonly string? _cramChallenge;
    private readonly string? _cramDigest;

    internal SmtpAuthentication(string mechanism, string identity, string? authorizationIdentity, string? password, string? token, string? cramChallenge = null, string? cramDigest = null)
    {
        Mechanism = mechanism;
        Identity = identity;
        AuthorizationIdentity = authorizationIdentity;
        Password = password;
        Token = token;
        _cramChallenge = cramChallenge;
        _cramDigest = cramDigest;
    }

    /// <summary>The mechanism name: PLAIN, LOGIN, CRAM-MD5, XOAUTH2 or OAUTHBEARER.</summary>
    public string Mechanism { get; }

    /// <summary>The user name (the SASL authentication identity).</summary>
    public string Identity { get; }

    /// <summary>The identity to act as, when the client gave one different from <see cref="Identity"/> (PLAIN's authzid, OAUTHBEARER's <c>a=</c>).</summary>
    public string? AuthorizationIdentity { get; }

    /// <summary>The password, for PLAIN and LOGIN; <see langword="null"/> otherwise.</summary>
    public string? Password { get; }

    /// <summary>The bearer token, for XOAUTH2 and OAUTHBEARER; <see langword="null"/> otherwise.</summary>
    public string? Token { get; }

    /// <summary>
    /// Checks a CRAM-MD5 response against the user's password (RFC 2195: HMAC-MD5 of the challenge keyed with the
    /// password). Always <see langword="false"/> for other mechanisms.
    /// </summary>
    /// <param name="password">The password the server has on record for <see cref="Identity"/>.</param>
    /// <returns>Whether the client knew the password.</returns>
    public bool VerifyCramMd5(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (_cramChallenge is null || _cramDigest is null)
        {
            return false;
        }

#pragma warning disable CA5351 // RFC 2195 defines CRAM-MD5 with HMAC-MD5; the mechanism is opt-in for that reason.
        var expected = HMACMD5.HashData(Encoding.UTF8.GetBytes(password), Encoding.ASCII.GetBytes(_cramChallenge));
#pragma warning restore CA5351
        var given = _cramDigest.Length == expected.Length * 2 ? Convert.FromHexString(_cramDigest) : [];
        return given.Length == expected.Length && CryptographicOperations.FixedTimeEquals(expected, given);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Mechanism} {Identity}";
}
