using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using Smtpd.Catcher.Http.Live;
using Smtpd.Cli.Configuration;

namespace Smtpd.Cli.Commands;

/// <summary>
/// <c>smtpd health</c>: checks that a running catcher is ready, through its HTTP <c>/readyz</c> and its SMTP greeting,
/// and exits 0 or 1, so a Docker <c>HEALTHCHECK</c> needs nothing else in the image (no curl).
/// </summary>
internal static class HealthCommand
{
    /// <summary>The catcher's default SMTP listener.</summary>
    public const string DefaultSmtp = "127.0.0.1:2525";

    /// <summary>How long <c>--wait</c> pauses between attempts: short next to any timeout, long enough not to spin.</summary>
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Builds the command.</summary>
    /// <param name="context">Where output goes.</param>
    /// <returns>The command.</returns>
    public static Command Create(CommandContext context)
    {
        var url = new Option<string>("--url") { Description = $"The catcher's HTTP address (default {WaitCommand.DefaultUrl}, or ${WaitCommand.UrlVariable}).", HelpName = "URL" };
        var smtp = new Option<string>("--smtp") { Description = $"The catcher's SMTP listener (default {DefaultSmtp}).", HelpName = "HOST:PORT", DefaultValueFactory = _ => DefaultSmtp };
        var wait = new Option<bool>("--wait") { Description = "Retry until the catcher is healthy or --timeout passes (for start-up scripts)." };
        var proxyProtocol = new Option<bool>("--proxy-protocol") { Description = "Send a PROXY protocol v2 LOCAL header before the SMTP check, for a catcher started with --proxy-protocol (add this host to its --trusted-proxy)." };
        var timeout = new Option<string>("--timeout") { Description = "How long the check (or, with --wait, all attempts) may take: seconds, or a number with ms, s or m (default 30s).", HelpName = "DURATION", DefaultValueFactory = _ => "30s" };
        var command = new Command("health", "Check that a running catcher answers /readyz and greets SMTP with 220; exit 0 when healthy, 1 when not.")
        {
            url, smtp, proxyProtocol, wait, timeout,
        };
        command.SetAction(async (parse, ct) =>
        {
            var timeoutText = parse.GetValue(timeout)!;
            if (!WaitDuration.TryParse(timeoutText, out var timeoutValue) || timeoutValue <= TimeSpan.Zero)
            {
                throw new SettingException("--timeout", $"'{timeoutText}' is not a duration; use seconds or a number with ms, s or m, e.g. 30s or 1500ms");
            }

            var (baseUri, credentials) = WaitCommand.ParseUrl(parse.GetValue(url) ?? context.Environment(WaitCommand.UrlVariable) ?? WaitCommand.DefaultUrl, parse.GetValue(url) is null ? WaitCommand.UrlVariable : "--url");
            var (host, port) = SendCommand.ParseServer(parse.GetValue(smtp)!, "--smtp");
            var target = new Target(new Uri(baseUri, "readyz"), credentials, host, port, parse.GetValue(proxyProtocol));

            using var deadline = new CancellationTokenSource(timeoutValue);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, ct);
            while (true)
            {
                var problems = await CheckAsync(target, linked.Token);
                if (problems.Count == 0)
                {
                    await context.Out.WriteLineAsync($"healthy: {WaitCommand.Redacted(target.Ready)} answered 200; {target.Smtp} greeted with 220");
                    return 0;
                }

                if (!parse.GetValue(wait))
                {
                    context.Fail("unhealthy: " + string.Join("; ", problems));
                    return 1;
                }

                try
                {
                    await Task.Delay(RetryInterval, linked.Token);
                }
                catch (OperationCanceledException)
                {
                    // The last attempt's problems: what was still wrong when the time ran out.
                    context.Fail($"unhealthy after {WaitDuration.Format(timeoutValue)}: " + string.Join("; ", problems));
                    return 1;
                }
            }
        });
        return command;
    }

    /// <summary>Both checks, at once; each problem is one phrase naming the target and the reason.</summary>
    private static async Task<List<string>> CheckAsync(Target target, CancellationToken cancellationToken)
    {
        var checks = await Task.WhenAll(CheckReadyAsync(target, cancellationToken), CheckGreetingAsync(target, cancellationToken));
        return [.. checks.OfType<string>()];
    }

    private static async Task<string?> CheckReadyAsync(Target target, CancellationToken cancellationToken)
    {
        var where = WaitCommand.Redacted(target.Ready);
        try
        {
            using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            using var request = new HttpRequestMessage(HttpMethod.Get, target.Ready);
            if (target.Credentials is { } credentials)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
            }

            using var response = await http.SendAsync(request, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                return null;
            }

            var reason = (await response.Content.ReadAsStringAsync(cancellationToken)).Trim();
            return $"{where} answered {(int)response.StatusCode}{(reason.Length > 0 ? ": " + Output.Terminal.Shorten(reason, 200) : string.Empty)}";
        }
        catch (HttpRequestException ex)
        {
            return $"cannot reach {where}: {ex.Message}";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return $"{where} did not answer in time";
        }
    }

    private static async Task<string?> CheckGreetingAsync(Target target, CancellationToken cancellationToken)
    {
        try
        {
            // MailKit reads the greeting and refuses anything but 220 (RFC 5321 4.3.1), then says EHLO and QUIT.
            using var client = new SmtpClient();
            if (target.ProxyProtocol)
            {
                // A --proxy-protocol listener reads a header before it greets, and closes a connection without one. LOCAL
                // is what a balancer's own health checks send (HAProxy's check-send-proxy): "the receiver must use the
                // real connection endpoints" (PROXY protocol 2.2), so the check is logged as coming from this host.
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync(target.Host, target.Port, cancellationToken);
                    await socket.SendAsync(ProxyV2LocalHeader, SocketFlags.None, cancellationToken);
                    // MailKit owns the socket from here and closes it with the client.
                    await client.ConnectAsync(socket, target.Host, target.Port, SecureSocketOptions.None, cancellationToken);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }
            else
            {
                await client.ConnectAsync(target.Host, target.Port, SecureSocketOptions.None, cancellationToken);
            }

            await client.DisconnectAsync(quit: true, cancellationToken);
            return null;
        }
        catch (Exception ex) when (ex is IOException or SocketException or SmtpProtocolException or SmtpCommandException)
        {
            return $"SMTP {target.Smtp}: {SendCommand.Reason(ex)}";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // A listener that waits for a PROXY header says nothing to a client that sends none.
            return $"SMTP {target.Smtp} did not greet in time" + (target.ProxyProtocol ? string.Empty : " (a catcher started with --proxy-protocol greets only after a header: add --proxy-protocol)");
        }
    }

    /// <summary>
    /// A PROXY protocol v2 header with the LOCAL command (PROXY protocol 2.2): the 12-byte signature, version 2 and
    /// command LOCAL (0x20), family UNSPEC (0x00) and no addresses (length 0).
    /// </summary>
    private static readonly byte[] ProxyV2LocalHeader = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0x00, 0x00];

    /// <summary>What the checks reach.</summary>
    private sealed record Target(Uri Ready, string? Credentials, string Host, int Port, bool ProxyProtocol)
    {
        public string Smtp => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
    }
}
