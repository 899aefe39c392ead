using System.Net.Security;
using System.Net.Sockets;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Smtpd.Catcher.Relay;

/// <summary>
/// Sends a stored message on to the configured server with MailKit's <see cref="SmtpClient"/>: one connection per
/// relay, TLS and AUTH as <see cref="RelayOptions"/> says. The message keeps its bytes except its <c>Bcc</c>
/// fields (RFC 5322 3.6.3: the visible recipients must not learn of the blind ones); the envelope is the given
/// sender and recipients. Every failure becomes a <see cref="RelayException"/> naming the server and its reply.
/// </summary>
/// <param name="options">The relay's options; <see cref="RelayOptions.Server"/> must be set.</param>
internal sealed class MessageRelay(RelayOptions options)
{
    /// <summary>The options.</summary>
    public RelayOptions Options => options;

    /// <summary>Relays one message.</summary>
    /// <param name="content">The message as stored.</param>
    /// <param name="mailFrom">The original MAIL FROM (empty for the null path); <see cref="RelayOptions.Sender"/> replaces it when set.</param>
    /// <param name="recipients">The RCPT TO addresses.</param>
    /// <param name="cancellationToken">Stops the relay.</param>
    /// <returns>The server's reply to the end of data.</returns>
    /// <exception cref="RelayException">The server refused or could not be reached.</exception>
    public async Task<string> SendAsync(Stream content, string mailFrom, IReadOnlyList<string> recipients, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentOutOfRangeException.ThrowIfZero(recipients.Count);
        var server = options.Server ?? throw new InvalidOperationException("No relay server is configured.");
        using var message = await MimeMessage.LoadAsync(content, cancellationToken);
        message.Headers.RemoveAll(HeaderId.Bcc);
        var sender = new MailboxAddress(string.Empty, options.Sender ?? mailFrom);
        var to = recipients.Select(r => new MailboxAddress(string.Empty, r)).ToList();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout);
        using var client = new SmtpClient
        {
            Timeout = (int)options.Timeout.TotalMilliseconds,
            // The machine's trust store decides, unless the user allowed an untrusted server (a test relay, a lab).
            ServerCertificateValidationCallback = (_, _, _, errors) => errors == SslPolicyErrors.None || options.AllowUntrustedCertificate,
        };

        var stage = "connect";
        try
        {
            var tls = options.ImplicitTls ? SecureSocketOptions.SslOnConnect
                : options.RequireStartTls ? SecureSocketOptions.StartTls
                : SecureSocketOptions.StartTlsWhenAvailable;
            await client.ConnectAsync(server.Host, options.Port, tls, timeout.Token);
            if (options.UserName is { } user)
            {
                stage = "AUTH";
                await client.AuthenticateAsync(user, options.Password ?? string.Empty, timeout.Token);
            }

            stage = "send";
            var reply = await client.SendAsync(FormatOptions.Default, message, sender, to, timeout.Token);
            await client.DisconnectAsync(quit: true, timeout.Token);
            return reply;
        }
        catch (SmtpCommandException ex)
        {
            var command = ex.ErrorCode switch
            {
                SmtpErrorCode.SenderNotAccepted => $"MAIL FROM:<{ex.Mailbox?.Address ?? sender.Address}>",
                SmtpErrorCode.RecipientNotAccepted => $"RCPT TO:<{ex.Mailbox?.Address}>",
                SmtpErrorCode.MessageNotAccepted => "the message",
                _ => stage,
            };
            throw new RelayException(RelayFailure.Refused, $"{options.ServerName} refused {command}: {(int)ex.StatusCode} {OneLine(ex.Message)}", ex);
        }
        catch (AuthenticationException ex)
        {
            throw new RelayException(RelayFailure.Refused, $"{options.ServerName} refused AUTH as {options.UserName}: {OneLine(ex.Message)}", ex);
        }
        catch (NotSupportedException ex)
        {
            // MailKit: the server does not offer STARTTLS (with RequireStartTls) or AUTH.
            throw new RelayException(RelayFailure.Refused, $"{options.ServerName} cannot be used at {stage}: {OneLine(ex.Message)}", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new RelayException(RelayFailure.Unreachable, $"{options.ServerName} did not answer within {options.Timeout.TotalSeconds:0} s at {stage}", ex);
        }
        catch (Exception ex) when (ex is SocketException or IOException or SslHandshakeException or SmtpProtocolException or ServiceNotConnectedException or TimeoutException)
        {
            throw new RelayException(RelayFailure.Unreachable, $"{options.ServerName} could not be reached at {stage}: {OneLine(ex.Message)}", ex);
        }
    }

    private static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
