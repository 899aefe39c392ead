using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Smtpd.Sessions;

/// <summary>What one line of an AUTH exchange led to.</summary>
internal enum SaslOutcome
{
    /// <summary>The mechanism needs another line: send <see cref="SaslExchange.Challenge"/>.</summary>
    Challenge,

    /// <summary>The client sent <c>*</c> (RFC 4954 4).</summary>
    Cancelled,

    /// <summary>The line was not base64.</summary>
    BadBase64,

    /// <summary>The decoded response does not follow the mechanism's grammar.</summary>
    Malformed,

    /// <summary>An identity holds CR, LF or NUL: an injection attempt.</summary>
    BadIdentity,

    /// <summary>The credentials are complete: ask the application.</summary>
    Credentials,
}

/// <summary>
/// The SASL side of AUTH (RFC 4954): the challenges and response grammars of PLAIN (RFC 4616), LOGIN, CRAM-MD5
/// (RFC 2195), XOAUTH2 and OAUTHBEARER (RFC 7628). I/O-free; the protocol sends the replies and asks the
/// application about the credentials.
/// </summary>
internal sealed class SaslExchange(SmtpServerOptions options, TimeProvider time)
{
    private static readonly SmtpReply EmptyChallenge = new(334, null, string.Empty);
    private static readonly SmtpReply UsernameChallenge = new(334, null, "VXNlcm5hbWU6"); // "Username:"
    private static readonly SmtpReply PasswordChallenge = new(334, null, "UGFzc3dvcmQ6"); // "Password:"

    private static readonly (SmtpAuthenticationMechanisms Flag, string Name)[] MechanismNames =
    [
        (SmtpAuthenticationMechanisms.Plain, "PLAIN"),
        (SmtpAuthenticationMechanisms.Login, "LOGIN"),
        (SmtpAuthenticationMechanisms.CramMd5, "CRAM-MD5"),
        (SmtpAuthenticationMechanisms.XOAuth2, "XOAUTH2"),
        (SmtpAuthenticationMechanisms.OAuthBearer, "OAUTHBEARER"),
    ];

    private SmtpAuthenticationMechanisms _mechanism;
    private string? _user;
    private string? _cramChallenge;

    /// <summary>The next challenge, after <see cref="Begin"/> or a <see cref="SaslOutcome.Challenge"/>.</summary>
    public SmtpReply? Challenge { get; private set; }

    /// <summary>The credentials, after <see cref="SaslOutcome.Credentials"/>.</summary>
    public SmtpAuthentication? Credentials { get; private set; }

    /// <summary>How many authentications the application refused in this session.</summary>
    public int Failures { get; set; }

    /// <summary>The EHLO keyword: <c>AUTH PLAIN LOGIN ...</c>, as the options allow.</summary>
    public static string Keyword(SmtpAuthenticationMechanisms allowed)
    {
        var builder = new StringBuilder("AUTH");
        foreach (var (flag, name) in MechanismNames)
        {
            if ((allowed & flag) != 0)
            {
                builder.Append(' ').Append(name);
            }
        }

        return builder.ToString();
    }

    /// <summary>The mechanism named in AUTH, if the options allow it; <see cref="SmtpAuthenticationMechanisms.None"/> otherwise.</summary>
    public SmtpAuthenticationMechanisms Find(string name)
    {
        var mechanism = Array.Find(MechanismNames, m => m.Name == name).Flag;
        return (options.AuthenticationMechanisms & mechanism) != 0 ? mechanism : SmtpAuthenticationMechanisms.None;
    }

    /// <summary>Starts an exchange with no initial response: <see cref="Challenge"/> is the server's first challenge.</summary>
    public void Begin(SmtpAuthenticationMechanisms mechanism)
    {
        Start(mechanism);
        switch (mechanism)
        {
            case SmtpAuthenticationMechanisms.Login:
                Challenge = UsernameChallenge;
                break;
            case SmtpAuthenticationMechanisms.CramMd5:
                // RFC 2195 2: a unique challenge in msg-id form.
                _cramChallenge = string.Create(CultureInfo.InvariantCulture, $"<{RandomNumberGenerator.GetInt32(int.MaxValue)}.{time.GetUtcNow().ToUnixTimeSeconds()}@{options.ServerName}>");
                Challenge = new SmtpReply(334, null, Convert.ToBase64String(Encoding.ASCII.GetBytes(_cramChallenge)));
                break;
            default:
                Challenge = EmptyChallenge;
                break;
        }
    }

    /// <summary>Starts an exchange whose first response came with AUTH; call <see cref="Continue"/> with it.</summary>
    /// <returns><see langword="false"/> when the mechanism does not allow an initial response (CRAM-MD5, RFC 2195).</returns>
    public bool BeginWithInitialResponse(SmtpAuthenticationMechanisms mechanism)
    {
        Start(mechanism);
        if (mechanism == SmtpAuthenticationMechanisms.CramMd5)
        {
            End();
            return false;
        }

        return true;
    }

    /// <summary>Takes one response line (already without CRLF).</summary>
    public SaslOutcome Continue(string response)
    {
        Credentials = null;
        Challenge = null;

        // RFC 4954 4: "*" cancels the exchange.
        if (response == "*")
        {
            End();
            return SaslOutcome.Cancelled;
        }

        var decoded = new byte[(response.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(response, decoded, out var length))
        {
            End();
            return SaslOutcome.BadBase64;
        }

        var data = decoded.AsSpan(0, length);
        SmtpAuthentication? credentials;
        switch (_mechanism)
        {
            case SmtpAuthenticationMechanisms.Login when _user is null:
                _user = Encoding.UTF8.GetString(data);
                Challenge = PasswordChallenge;
                return SaslOutcome.Challenge;
            case SmtpAuthenticationMechanisms.Login:
                credentials = new SmtpAuthentication("LOGIN", _user, null, Encoding.UTF8.GetString(data), null);
                break;
            case SmtpAuthenticationMechanisms.Plain:
                credentials = ParsePlain(data);
                break;
            case SmtpAuthenticationMechanisms.CramMd5:
                credentials = ParseCramMd5(Encoding.UTF8.GetString(data), _cramChallenge!);
                break;
            case SmtpAuthenticationMechanisms.XOAuth2:
                credentials = ParseXOAuth2(Encoding.UTF8.GetString(data));
                break;
            default:
                credentials = ParseOAuthBearer(Encoding.UTF8.GetString(data));
                break;
        }

        End();
        if (credentials is null)
        {
            return SaslOutcome.Malformed;
        }

        // Identities end up in logs, headers and databases: CR, LF or NUL in one is an injection attempt.
        if (HasLineBreakOrNul(credentials.Identity) || HasLineBreakOrNul(credentials.AuthorizationIdentity))
        {
            return SaslOutcome.BadIdentity;
        }

        Credentials = credentials;
        return SaslOutcome.Credentials;
    }

    /// <summary>Forgets the exchange in progress.</summary>
    public void End()
    {
        _mechanism = SmtpAuthenticationMechanisms.None;
        _user = null;
        _cramChallenge = null;
    }

    private void Start(SmtpAuthenticationMechanisms mechanism)
    {
        _mechanism = mechanism;
        _user = null;
        Credentials = null;
        Challenge = null;
    }

    private static bool HasLineBreakOrNul(string? value) => value is not null && value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0;

    /// <summary>RFC 4616 2: <c>message = [authzid] UTF8NUL authcid UTF8NUL passwd</c>.</summary>
    private static SmtpAuthentication? ParsePlain(ReadOnlySpan<byte> data)
    {
        var first = data.IndexOf((byte)0);
        if (first < 0)
        {
            return null;
        }

        var rest = data[(first + 1)..];
        var second = rest.IndexOf((byte)0);
        if (second <= 0 || rest[(second + 1)..].Contains((byte)0))
        {
            return null;
        }

        var authorization = Encoding.UTF8.GetString(data[..first]);
        return new SmtpAuthentication("PLAIN", Encoding.UTF8.GetString(rest[..second]), authorization.Length == 0 ? null : authorization, Encoding.UTF8.GetString(rest[(second + 1)..]), null);
    }

    /// <summary>RFC 2195 2: <c>user SP digest</c>, the digest being 32 lower-case hex digits.</summary>
    private static SmtpAuthentication? ParseCramMd5(string text, string challenge)
    {
        var space = text.LastIndexOf(' ');
        if (space <= 0 || text.Length - space - 1 != 32)
        {
            return null;
        }

        return new SmtpAuthentication("CRAM-MD5", text[..space], null, null, null, challenge, text[(space + 1)..]);
    }

    /// <summary>XOAUTH2: <c>"user=" user ^A "auth=Bearer " token ^A ^A</c>.</summary>
    private static SmtpAuthentication? ParseXOAuth2(string text)
    {
        string? user = null;
        string? token = null;
        foreach (var part in text.Split('\x01'))
        {
            if (part.StartsWith("user=", StringComparison.Ordinal))
            {
                user = part[5..];
            }
            else if (part.StartsWith("auth=Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                token = part[12..];
            }
        }

        return string.IsNullOrEmpty(user) || string.IsNullOrEmpty(token) ? null : new SmtpAuthentication("XOAUTH2", user, null, null, token);
    }

    /// <summary>RFC 7628 3.1: <c>gs2-header kvsep *kvpair kvsep</c>, with <c>gs2-header = "n," ["a=" saslname] ","</c> and <c>auth=Bearer token</c>.</summary>
    private static SmtpAuthentication? ParseOAuthBearer(string text)
    {
        var parts = text.Split('\x01');
        var header = parts[0].Split(',');
        if (header.Length < 3 || header[0] is not ("n" or "y"))
        {
            return null;
        }

        // RFC 5801 4: in a saslname "=2C" is "," and "=3D" is "=".
        var user = header[1].StartsWith("a=", StringComparison.Ordinal) ? header[1][2..].Replace("=2C", ",", StringComparison.Ordinal).Replace("=3D", "=", StringComparison.Ordinal) : null;
        var token = parts.Skip(1).FirstOrDefault(p => p.StartsWith("auth=Bearer ", StringComparison.OrdinalIgnoreCase))?[12..];
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        return new SmtpAuthentication("OAUTHBEARER", user ?? string.Empty, null, null, token);
    }
}
