using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Smtpd.Catcher.Http.Live;
using Smtpd.Cli.Configuration;
using Smtpd.Cli.Output;

namespace Smtpd.Cli.Commands;

/// <summary>
/// <c>smtpd wait</c>: blocks until a running catcher has stored messages that match a query, through its HTTP
/// <c>/api/v1/wait</c>, so a shell script or any test runner can wait for mail without polling.
/// </summary>
internal static class WaitCommand
{
    /// <summary>The catcher's default HTTP address (Mailpit's port, so its users' settings carry over).</summary>
    public const string DefaultUrl = "http://127.0.0.1:8025/";

    /// <summary>The environment variable that overrides <see cref="DefaultUrl"/> when <c>--url</c> is not given.</summary>
    public const string UrlVariable = "SMTPD_URL";

    /// <summary>How long after the wait's own timeout the command still waits for the answer (the server answers 408 at the timeout).</summary>
    private static readonly TimeSpan AnswerGrace = TimeSpan.FromSeconds(10);

    /// <summary>Builds the command.</summary>
    /// <param name="context">Where output goes.</param>
    /// <returns>The command.</returns>
    public static Command Create(CommandContext context)
    {
        var query = new Option<string>("--query") { Description = "The search the messages must match (the /api/v1/search language); empty matches any message.", HelpName = "QUERY", DefaultValueFactory = _ => string.Empty };
        var count = new Option<string>("--count") { Description = "How many matching messages to wait for (default 1); messages stored before the call count.", HelpName = "N", DefaultValueFactory = _ => "1" };
        var timeout = new Option<string>("--timeout") { Description = "How long to wait: seconds, or a number with ms, s or m (default 30s).", HelpName = "DURATION", DefaultValueFactory = _ => "30s" };
        var mailbox = new Option<string>("--mailbox") { Description = "Wait in this named mailbox only (the catcher's --mailbox); default: every message.", HelpName = "NAME" };
        var json = new Option<bool>("--json") { Description = "Print the server's JSON answer (a message list) instead of a table." };
        var url = new Option<string>("--url") { Description = $"The catcher's HTTP address (default {DefaultUrl}, or ${UrlVariable}).", HelpName = "URL" };
        var command = new Command("wait", "Wait until a running catcher has stored messages matching a query; exit 0 when found, 1 on timeout.")
        {
            query, count, timeout, mailbox, json, url,
        };
        command.SetAction(async (parse, ct) =>
        {
            var countValue = ValueParsers.ParseInt(parse.GetValue(count)!, 1, int.MaxValue, "--count");
            var timeoutText = parse.GetValue(timeout)!;
            if (!WaitDuration.TryParse(timeoutText, out var timeoutValue))
            {
                throw new SettingException("--timeout", $"'{timeoutText}' is not a duration; use seconds or a number with ms, s or m, e.g. 30s or 1500ms");
            }

            var (baseUri, credentials) = ParseUrl(parse.GetValue(url) ?? context.Environment(UrlVariable) ?? DefaultUrl, parse.GetValue(url) is null ? UrlVariable : "--url");
            var request = new Uri(baseUri, "api/v1/wait?" + string.Join('&',
                "query=" + Uri.EscapeDataString(parse.GetValue(query) ?? string.Empty),
                "count=" + countValue.ToString(CultureInfo.InvariantCulture),
                "timeout=" + WaitDuration.Format(timeoutValue))
                + (StoreCommands.MailboxName(parse.GetValue(mailbox)) is { } box ? "&mailbox=" + Uri.EscapeDataString(box) : string.Empty));
            using var http = new HttpClient { Timeout = timeoutValue + AnswerGrace };
            using var message = new HttpRequestMessage(HttpMethod.Get, request);
            if (credentials is not null)
            {
                message.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
            }

            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(message, ct);
            }
            catch (HttpRequestException ex)
            {
                context.Fail($"cannot reach the catcher at {Redacted(baseUri)}: {ex.Message}");
                return 1;
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                context.Fail($"the catcher at {Redacted(baseUri)} did not answer within {WaitDuration.Format(timeoutValue + AnswerGrace)}");
                return 1;
            }

            using (response)
            {
                var body = await response.Content.ReadAsByteArrayAsync(ct);
                switch (response.StatusCode)
                {
                    case HttpStatusCode.OK when parse.GetValue(json):
                        await context.StdoutStream.WriteAsync(body, ct);
                        await context.StdoutStream.WriteAsync("\n"u8.ToArray(), ct);
                        await context.StdoutStream.FlushAsync(ct);
                        return 0;
                    case HttpStatusCode.OK:
                        WriteTable(context.Out, body);
                        return 0;
                    case HttpStatusCode.RequestTimeout:
                        context.Fail(Reason(body));
                        return 1;
                    case HttpStatusCode.BadRequest:
                        context.Fail(Reason(body));
                        return Program.UsageError;
                    default:
                        context.Fail($"the catcher at {Redacted(baseUri)} answered {(int)response.StatusCode}: {Reason(body)}");
                        return 1;
                }
            }
        });
        return command;
    }

    /// <summary>Parses the catcher's address; a <c>user:password@</c> in it becomes HTTP Basic credentials.</summary>
    internal static (Uri Base, string? Credentials) ParseUrl(string text, string setting)
    {
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Query.Length > 0)
        {
            throw new SettingException(setting, $"'{text}' is not an http:// or https:// address, e.g. {DefaultUrl}");
        }

        var builder = new UriBuilder(uri) { UserName = string.Empty, Password = string.Empty };
        // The base path (a catcher behind --base-path /mail/) must end in '/' so api/v1/wait is resolved under it.
        if (!builder.Path.EndsWith('/'))
        {
            builder.Path += "/";
        }

        var credentials = uri.UserInfo.Length > 0 ? Uri.UnescapeDataString(uri.UserInfo) : null;
        return (builder.Uri, credentials);
    }

    internal static string Redacted(Uri uri) => uri.GetLeftPart(UriPartial.Path);

    internal static string Reason(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body).Trim();
        return Terminal.Shorten(text.Length == 0 ? "(no reason given)" : text, 500);
    }

    /// <summary>One line per message, newest first: ID, time, sender and subject, read from the list's summaries.</summary>
    private static void WriteTable(TextWriter output, byte[] body)
    {
        using var list = JsonDocument.Parse(body);
        output.WriteLine($"{"ID",-24} {"RECEIVED",-20} {"FROM",-30} {"SUBJECT"}");
        foreach (var m in list.RootElement.GetProperty("messages").EnumerateArray())
        {
            var id = Text(m, "ID");
            var created = Text(m, "Created");
            var from = m.TryGetProperty("From", out var f) && f.ValueKind == JsonValueKind.Object ? Text(f, "Address") : string.Empty;
            // Fit pads to terminal cells, so no composite-format padding (it counts chars, which misaligns wide text);
            // the last column is only shortened, never padded, so lines carry no trailing blanks.
            output.WriteLine($"{Terminal.Fit(id, 24)} {Terminal.Fit(created, 20)} {Terminal.Fit(from.Length == 0 ? "<>" : from, 30)} {Terminal.Shorten(Text(m, "Subject"), 60)}");
        }
    }

    private static string Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? string.Empty : string.Empty;
}
