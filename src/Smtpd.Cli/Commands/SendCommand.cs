using System.CommandLine;
using System.Globalization;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Smtpd.Cli.Configuration;

namespace Smtpd.Cli.Commands;

/// <summary><c>smtpd send</c>: a message through MailKit, for smoke tests and demos.</summary>
internal static class SendCommand
{
    /// <summary>Builds the command.</summary>
    /// <param name="context">Where output goes.</param>
    /// <returns>The command.</returns>
    public static Command Create(CommandContext context)
    {
        var server = new Option<string>("--server") { Description = "The server as HOST:PORT (default 127.0.0.1:2525).", HelpName = "HOST:PORT", DefaultValueFactory = _ => "127.0.0.1:2525" };
        var from = new Option<string>("--from") { Description = "The sender (default smtpd@localhost).", HelpName = "ADDRESS", DefaultValueFactory = _ => "smtpd@localhost" };
        var to = new Option<string[]>("--to") { Description = "A recipient in the To header (repeatable).", HelpName = "ADDRESS", Arity = ArgumentArity.OneOrMore };
        var cc = new Option<string[]>("--cc") { Description = "A recipient in the Cc header (repeatable).", HelpName = "ADDRESS", Arity = ArgumentArity.OneOrMore };
        var bcc = new Option<string[]>("--bcc") { Description = "A blind-copy recipient: in the envelope only, not in the headers (repeatable).", HelpName = "ADDRESS", Arity = ArgumentArity.OneOrMore };
        var subject = new Option<string>("--subject") { Description = "The subject.", DefaultValueFactory = _ => "Test message from smtpd send" };
        var body = new Option<string>("--body") { Description = "The text body ('-' reads it from stdin); with --html, the text alternative.", DefaultValueFactory = _ => "Hello from smtpd send." };
        var html = new Option<string>("--html") { Description = "An HTML body ('-' reads it from stdin); with --body, the message is multipart/alternative.", HelpName = "HTML" };
        var attach = new Option<string[]>("--attach") { Description = "Attach a file (repeatable).", HelpName = "FILE", Arity = ArgumentArity.OneOrMore };
        var startTls = new Option<bool>("--starttls") { Description = "Require STARTTLS." };
        var smtps = new Option<bool>("--smtps") { Description = "Connect with implicit TLS (SMTPS)." };
        var auth = new Option<string>("--auth") { Description = "Authenticate as USER:PASS.", HelpName = "USER:PASS" };
        var insecure = new Option<bool>("--insecure") { Description = "Accept any server certificate (for --tls-self-signed catchers)." };
        var command = new Command("send", "Send a message with MailKit, for smoke tests and demos.")
        {
            server, from, to, cc, bcc, subject, body, html, attach, startTls, smtps, auth, insecure,
        };
        command.SetAction(async (parse, ct) =>
        {
            var (host, port) = ParseServer(parse.GetValue(server)!);
            if (parse.GetValue(startTls) && parse.GetValue(smtps))
            {
                throw new SettingException("--starttls", "cannot be combined with --smtps");
            }

            var credentials = parse.GetValue(auth) is { } pair ? ValueParsers.ParseCredentials(pair, "--auth") : ((string, string)?)null;
            var message = new MimeMessage();
            message.From.Add(ParseAddress(parse.GetValue(from)!, "--from"));
            AddAll(message.To, parse.GetValue(to), "--to");
            AddAll(message.Cc, parse.GetValue(cc), "--cc");
            AddAll(message.Bcc, parse.GetValue(bcc), "--bcc");
            if (message.To.Count + message.Cc.Count + message.Bcc.Count == 0)
            {
                throw new SettingException("send", "give at least one recipient with --to, --cc or --bcc");
            }

            message.Subject = parse.GetValue(subject) ?? string.Empty;
            message.Date = DateTimeOffset.Now;
            var htmlText = parse.GetValue(html);
            // With --html alone the message is HTML only; --body given as well becomes its text alternative.
            var text = htmlText is not null && parse.GetResult(body) is null or { Implicit: true } ? null : parse.GetValue(body)!;
            if (text == "-" && htmlText == "-")
            {
                throw new SettingException("--html", "cannot read stdin as well as --body");
            }

            if (text == "-")
            {
                text = await Console.In.ReadToEndAsync(ct);
            }

            if (htmlText == "-")
            {
                htmlText = await Console.In.ReadToEndAsync(ct);
            }

            var builder = new BodyBuilder { TextBody = text, HtmlBody = htmlText };
            foreach (var file in parse.GetValue(attach) ?? [])
            {
                try
                {
                    await builder.Attachments.AddAsync(file, ct);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
                {
                    throw new SettingException("--attach", $"cannot read {file}: {ex.Message}");
                }
            }

            message.Body = builder.ToMessageBody();
            using var client = new SmtpClient();
            if (parse.GetValue(insecure))
            {
                // Explicitly asked for: the catcher's self-signed certificate cannot chain to a trusted root.
#pragma warning disable CA5359 // --insecure is the user's explicit choice, for a local catcher's self-signed certificate.
                client.ServerCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
            }

            var security = parse.GetValue(smtps) ? SecureSocketOptions.SslOnConnect
                : parse.GetValue(startTls) ? SecureSocketOptions.StartTls
                : SecureSocketOptions.None;
            var where = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]:{port}" : $"{host}:{port}";
            try
            {
                await client.ConnectAsync(host, port, security, ct);
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or SmtpProtocolException or SslHandshakeException or SmtpCommandException)
            {
                // The server, named as the user gave it, and why: "Connection refused", a TLS failure, a 554 greeting.
                context.Fail($"send failed: cannot reach {where}: {Reason(ex)}");
                return 1;
            }

            try
            {
                if (credentials is { } c)
                {
                    await client.AuthenticateAsync(c.Item1, c.Item2, ct);
                }

                var response = await client.SendAsync(message, ct);
                await client.DisconnectAsync(quit: true, ct);
                await context.Out.WriteLineAsync($"sent; the server said: {response}");
                return 0;
            }
            catch (Exception ex) when (ex is SmtpCommandException or SmtpProtocolException or AuthenticationException or IOException or System.Net.Sockets.SocketException or NotSupportedException or SslHandshakeException)
            {
                context.Fail($"send failed: {where}: {Reason(ex)}");
                return 1;
            }
        });
        return command;
    }

    private static void AddAll(InternetAddressList list, string[]? addresses, string setting)
    {
        foreach (var address in addresses ?? [])
        {
            list.Add(ParseAddress(address, setting));
        }
    }

    /// <summary>The failure in a line: the server's reply for an SMTP error, the socket's reason, or the TLS problem.</summary>
    internal static string Reason(Exception ex) => ex switch
    {
        SmtpCommandException command => $"the server said {(int)command.StatusCode} {command.Message}",
        System.Net.Sockets.SocketException socket => socket.SocketErrorCode switch
        {
            System.Net.Sockets.SocketError.ConnectionRefused => "connection refused (is the catcher running on that port?)",
            System.Net.Sockets.SocketError.TimedOut => "timed out",
            System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.NoData => "unknown host",
            _ => socket.Message,
        },
        SslHandshakeException => "the TLS handshake failed (a self-signed catcher needs --insecure)",
        _ => ex.Message,
    };

    internal static (string Host, int Port) ParseServer(string text, string setting = "--server")
    {
        var colon = text.LastIndexOf(':');
        if (colon > 0 && colon > text.LastIndexOf(']') && int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535)
        {
            return (text[..colon].Trim('[', ']'), port);
        }

        throw new SettingException(setting, $"'{text}' is not HOST:PORT, e.g. 127.0.0.1:2525");
    }

    private static MailboxAddress ParseAddress(string text, string setting) =>
        MailboxAddress.TryParse(text, out var address) ? address : throw new SettingException(setting, $"'{text}' is not an email address");
}
