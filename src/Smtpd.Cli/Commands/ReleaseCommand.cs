using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Smtpd.Catcher.Relay;
using Smtpd.Cli.Configuration;

namespace Smtpd.Cli.Commands;

/// <summary>
/// <c>smtpd release ID --to ADDRESS…</c>: asks a running catcher to relay a stored message through its
/// <c>--relay</c> server, with Mailpit's <c>POST /api/v1/message/{ID}/release</c>. Exit 0 when relayed, 1 when the
/// catcher or the relay server refused or could not be reached (the reason names the server and its reply), 2 for
/// bad flags.
/// </summary>
internal static class ReleaseCommand
{
    /// <summary>How long the command waits for the answer: the relay's own 30-second default, and some room.</summary>
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Builds the command.</summary>
    /// <param name="context">Where output goes.</param>
    /// <returns>The command.</returns>
    public static Command Create(CommandContext context)
    {
        var id = new Argument<string>("ID") { Description = "The message's ID, or latest for the newest." };
        var to = new Option<string[]>("--to") { Description = "A recipient to relay to (repeatable, or comma-separated).", HelpName = "ADDRESS", Arity = ArgumentArity.OneOrMore, Required = true };
        var url = new Option<string>("--url") { Description = $"The catcher's HTTP address (default {WaitCommand.DefaultUrl}, or ${WaitCommand.UrlVariable}).", HelpName = "URL" };
        var command = new Command("release", "Relay a stored message through the running catcher's --relay server to the given recipients.")
        {
            id, to, url,
        };
        command.SetAction(async (parse, ct) =>
        {
            var messageId = parse.GetValue(id)!.Trim();
            if (messageId.Length == 0 || messageId.Any(c => !char.IsAsciiLetterOrDigit(c)))
            {
                throw new SettingException("ID", $"'{messageId}' is not a message ID (a number, or latest)");
            }

            var recipients = parse.GetValue(to)!.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
            if (recipients.Count == 0)
            {
                throw new SettingException("--to", "needs at least one address");
            }

            if (recipients.FirstOrDefault(r => !RelayOptions.IsAddress(r)) is { } invalid)
            {
                throw new SettingException("--to", $"'{invalid}' is not an email address (local@domain)");
            }

            var (baseUri, credentials) = WaitCommand.ParseUrl(parse.GetValue(url) ?? context.Environment(WaitCommand.UrlVariable) ?? WaitCommand.DefaultUrl, parse.GetValue(url) is null ? WaitCommand.UrlVariable : "--url");
            using var http = new HttpClient { Timeout = AnswerTimeout };
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUri, $"api/v1/message/{Uri.EscapeDataString(messageId)}/release"))
            {
                Content = JsonContent.Create(new ReleaseBody(recipients), ReleaseBodyContext.Default.ReleaseBody),
            };
            if (credentials is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
            }

            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(request, ct);
            }
            catch (HttpRequestException ex)
            {
                context.Fail($"cannot reach the catcher at {WaitCommand.Redacted(baseUri)}: {ex.Message}");
                return 1;
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                context.Fail($"the catcher at {WaitCommand.Redacted(baseUri)} did not answer within {AnswerTimeout.TotalSeconds:0} s");
                return 1;
            }

            using (response)
            {
                var reason = WaitCommand.Reason(await response.Content.ReadAsByteArrayAsync(ct));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    context.Out.WriteLine($"released {messageId} to {string.Join(", ", recipients)}");
                    return 0;
                }

                context.Fail(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.BadGateway or HttpStatusCode.NotFound
                    ? $"release of {messageId} failed: {reason}"
                    : $"the catcher at {WaitCommand.Redacted(baseUri)} answered {(int)response.StatusCode}: {reason}");
                return 1;
            }
        });
        return command;
    }
}

/// <summary>The release request's body, Mailpit's <c>{"To":[…]}</c>.</summary>
/// <param name="To">The recipients.</param>
internal sealed record ReleaseBody(IReadOnlyList<string> To);

/// <summary>The release body's JSON, source-generated.</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(ReleaseBody))]
internal sealed partial class ReleaseBodyContext : System.Text.Json.Serialization.JsonSerializerContext;
