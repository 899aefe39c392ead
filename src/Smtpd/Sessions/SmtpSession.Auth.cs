using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Smtpd.Logging;
using Smtpd.Protocol.Commands;

namespace Smtpd.Sessions;

/// <summary>AUTH (RFC 4954): the SASL exchanges of PLAIN, LOGIN, CRAM-MD5, XOAUTH2 and OAUTHBEARER.</summary>
internal sealed partial class SmtpSession
{
    private static readonly SmtpReply EmptyChallenge = new(334, null, string.Empty);
    private static readonly SmtpReply UsernameChallenge = new(334, null, "VXNlcm5hbWU6"); // "Username:"
    private static readonly SmtpReply PasswordChallenge = new(334, null, "UGFzc3dvcmQ6"); // "Password:"

    private SmtpAuthenticationMechanisms _saslMechanism;
    private string? _saslUser;
    private string? _cramChallenge;
    private string? _saslResponse;
    private int _authFailures;

    /// <summary>Whether EHLO advertises AUTH now: a callback is set, the channel is encrypted or plaintext AUTH is allowed, and nobody has logged in yet.</summary>
    private bool AuthenticationOffered =>
        _options.Authenticate is not null
        && (_context.IsSecure || _options.AllowInsecureAuth)
        && _context.AuthenticatedIdentity is null;

    /// <summary>The EHLO keyword: <c>AUTH PLAIN LOGIN ...</c>.</summary>
    private string AuthKeyword()
    {
        var builder = new StringBuilder("AUTH");
        foreach (var (flag, name) in MechanismNames)
        {
            if ((_options.AuthenticationMechanisms & flag) != 0)
            {
                builder.Append(' ').Append(name);
            }
        }

        return builder.ToString();
    }

    private static readonly (SmtpAuthenticationMechanisms Flag, string Name)[] MechanismNames =
    [
        (SmtpAuthenticationMechanisms.Plain, "PLAIN"),
        (SmtpAuthenticationMechanisms.Login, "LOGIN"),
        (SmtpAuthenticationMechanisms.CramMd5, "CRAM-MD5"),
        (SmtpAuthenticationMechanisms.XOAuth2, "XOAUTH2"),
        (SmtpAuthenticationMechanisms.OAuthBearer, "OAUTHBEARER"),
    ];

    private ValueTask<bool> ExecuteAuthAsync(AuthCommand auth)
    {
        if (_options.Authenticate is null)
        {
            return new(CountError(SmtpReplies.AuthNotAvailable));
        }

        if (_context.AuthenticatedIdentity is not null)
        {
            return new(CountError(SmtpReplies.AlreadyAuthenticated));
        }

        // RFC 4954 4: a server may refuse plaintext mechanisms on an unencrypted channel with 538.
        if (!_context.IsSecure && !_options.AllowInsecureAuth)
        {
            return new(CountError(SmtpReplies.EncryptionRequired));
        }

        var mechanism = Array.Find(MechanismNames, m => m.Name == auth.Mechanism).Flag;
        if (mechanism == SmtpAuthenticationMechanisms.None || (_options.AuthenticationMechanisms & mechanism) == 0)
        {
            return new(CountError(SmtpReplies.UnknownMechanism));
        }

        _saslMechanism = mechanism;
        _saslUser = null;
        if (auth.InitialResponse is { } initial)
        {
            if (mechanism == SmtpAuthenticationMechanisms.CramMd5)
            {
                // RFC 2195: the server speaks first; an initial response is a protocol error.
                EndSasl();
                return new(CountError(SmtpReplies.AuthSyntax));
            }

            // RFC 4954 4: "=" stands for an empty initial response.
            return ContinueSaslAsync(initial == "=" ? string.Empty : initial);
        }

        switch (mechanism)
        {
            case SmtpAuthenticationMechanisms.Login:
                Reply(UsernameChallenge);
                break;
            case SmtpAuthenticationMechanisms.CramMd5:
                // RFC 2195 2: a unique challenge in msg-id form.
                _cramChallenge = string.Create(CultureInfo.InvariantCulture, $"<{RandomNumberGenerator.GetInt32(int.MaxValue)}.{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}@{_options.ServerName}>");
                Reply(new SmtpReply(334, null, Convert.ToBase64String(Encoding.ASCII.GetBytes(_cramChallenge))));
                break;
            default:
                Reply(EmptyChallenge);
                break;
        }

        _mode = InputMode.SaslResponse;
        return new(false);
    }

    /// <summary>Handles one line of the exchange read in <see cref="InputMode.SaslResponse"/>.</summary>
    private ValueTask<bool> ContinueAuthenticationAsync()
    {
        _mode = InputMode.Command;
        if (_saslResponse is not { } response)
        {
            EndSasl();
            return new(CountError(SmtpReplies.AuthLineTooLong));
        }

        _saslResponse = null;
        return ContinueSaslAsync(response);
    }

    private async ValueTask<bool> ContinueSaslAsync(string response)
    {
        // RFC 4954 4: "*" cancels the exchange.
        if (response == "*")
        {
            EndSasl();
            return CountError(SmtpReplies.AuthCancelled);
        }

        var decoded = new byte[(response.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(response, decoded, out var length))
        {
            EndSasl();
            return CountError(SmtpReplies.AuthBadBase64);
        }

        var data = decoded.AsSpan(0, length);
        SmtpAuthentication? credentials;
        switch (_saslMechanism)
        {
            case SmtpAuthenticationMechanisms.Login when _saslUser is null:
                _saslUser = Encoding.UTF8.GetString(data);
                Reply(PasswordChallenge);
                _mode = InputMode.SaslResponse;
                return false;
            case SmtpAuthenticationMechanisms.Login:
                credentials = new SmtpAuthentication("LOGIN", _saslUser, null, Encoding.UTF8.GetString(data), null);
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

        EndSasl();
        if (credentials is null)
        {
            return CountError(SmtpReplies.AuthMalformed);
        }

        // Identities end up in logs, headers and databases: CR, LF or NUL in one is an injection attempt.
        if (HasLineBreakOrNul(credentials.Identity) || HasLineBreakOrNul(credentials.AuthorizationIdentity))
        {
            return CountError(SmtpReplies.AuthBadIdentity);
        }

        var verdict = await InvokeAsync(static (s, ct) => s.authenticate(s.Item2, s.credentials, ct), (authenticate: _options.Authenticate!, _context, credentials), "Authenticate");
        if (verdict is null)
        {
            Reply(SmtpReplies.LocalError);
            return false;
        }

        if (verdict.IsAccepted)
        {
            _context.AuthenticatedIdentity = credentials.AuthorizationIdentity ?? credentials.Identity;
            _context.AuthenticationMechanism = credentials.Mechanism;
            Log.Authenticated(_logger, _context.AuthenticatedIdentity, credentials.Mechanism);
            Reply(verdict.Reply ?? SmtpReplies.AuthSucceeded);
            return false;
        }

        Log.AuthenticationFailed(_logger, credentials.Identity, credentials.Mechanism);
        Reply(verdict.Reply ?? SmtpReplies.AuthFailed);
        if (++_authFailures < _options.MaxAuthFailures)
        {
            return false;
        }

        Reply(SmtpReplies.TooManyAuthFailures);
        return true;
    }

    private void EndSasl()
    {
        _saslMechanism = SmtpAuthenticationMechanisms.None;
        _saslUser = null;
        _cramChallenge = null;
    }

    private static string ReadSaslLine(in ReadOnlySequence<byte> line)
    {
        var text = Encoding.ASCII.GetString(line);
        return text.EndsWith('\r') ? text[..^1] : text;
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
