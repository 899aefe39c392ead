using System.Buffers;
using System.Text;
using Smtpd.Logging;
using Smtpd.Protocol.Commands;

namespace Smtpd.Sessions;

/// <summary>AUTH (RFC 4954): the command, the exchange's input mode and the call to the application.</summary>
internal sealed partial class SmtpProtocol
{
    private SaslExchange? _sasl;
    private string? _saslResponse;
    private string? _authKeyword;

    private SaslExchange Sasl => _sasl ??= new SaslExchange(_options, _time);

    /// <summary>Whether EHLO advertises AUTH now: a callback is set, the channel is encrypted or plaintext AUTH is allowed, and nobody has logged in yet.</summary>
    private bool AuthenticationOffered =>
        _options.Authenticate is not null
        && (_context.IsSecure || _options.AllowInsecureAuth)
        && _context.AuthenticatedIdentity is null;

    /// <summary>The EHLO keyword: <c>AUTH PLAIN LOGIN ...</c>.</summary>
    private string AuthKeyword => _authKeyword ??= SaslExchange.Keyword(_options.AuthenticationMechanisms);

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

        var mechanism = Sasl.Find(auth.Mechanism);
        if (mechanism == SmtpAuthenticationMechanisms.None)
        {
            return new(CountError(SmtpReplies.UnknownMechanism));
        }

        if (auth.InitialResponse is { } initial)
        {
            if (!Sasl.BeginWithInitialResponse(mechanism))
            {
                // RFC 2195: the server speaks first; an initial response is a protocol error.
                return new(CountError(SmtpReplies.AuthSyntax));
            }

            // RFC 4954 4: "=" stands for an empty initial response.
            return ContinueSaslAsync(initial == "=" ? string.Empty : initial);
        }

        Sasl.Begin(mechanism);
        Reply(Sasl.Challenge!);
        _mode = InputMode.SaslResponse;
        return new(false);
    }

    /// <summary>Handles one line of the exchange read in <see cref="InputMode.SaslResponse"/>.</summary>
    private ValueTask<bool> ContinueAuthenticationAsync()
    {
        _mode = InputMode.Command;
        if (_saslResponse is not { } response)
        {
            Sasl.End();
            return new(CountError(SmtpReplies.AuthLineTooLong));
        }

        _saslResponse = null;
        return ContinueSaslAsync(response);
    }

    private async ValueTask<bool> ContinueSaslAsync(string response)
    {
        switch (Sasl.Continue(response))
        {
            case SaslOutcome.Challenge:
                Reply(Sasl.Challenge!);
                _mode = InputMode.SaslResponse;
                return false;
            case SaslOutcome.Cancelled:
                return CountError(SmtpReplies.AuthCancelled);
            case SaslOutcome.BadBase64:
                return CountError(SmtpReplies.AuthBadBase64);
            case SaslOutcome.Malformed:
                return CountError(SmtpReplies.AuthMalformed);
            case SaslOutcome.BadIdentity:
                return CountError(SmtpReplies.AuthBadIdentity);
        }

        var credentials = Sasl.Credentials!;
        var verdict = await _callbacks.InvokeAsync(static (s, ct) => s.authenticate(s.Item2, s.credentials, ct), (authenticate: _options.Authenticate!, _context, credentials), "Authenticate");
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
        if (++Sasl.Failures < _options.MaxAuthFailures)
        {
            return false;
        }

        Reply(SmtpReplies.TooManyAuthFailures);
        return true;
    }

    private static string ReadSaslLine(in ReadOnlySequence<byte> line)
    {
        var text = Encoding.ASCII.GetString(line);
        return text.EndsWith('\r') ? text[..^1] : text;
    }
}
