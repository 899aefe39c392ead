using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Http;

/// <summary>A request the API refuses: the status and a one-line reason, sent as <c>text/plain</c>.</summary>
internal sealed class ApiRequestException(int status, string message) : Exception(message)
{
    /// <summary>The HTTP status: 400, 404, 413 or 503.</summary>
    public int Status { get; } = status;
}

/// <summary>Reading and checking what a request sends: ids, paging, time zones, searches and JSON bodies.</summary>
internal static class ApiRequests
{
    /// <summary>The plain-text content type of the API's text answers (Mailpit's <c>ok</c> and its errors).</summary>
    public const string TextPlain = "text/plain; charset=utf-8";

    /// <summary>Mailpit's default page size.</summary>
    public const int DefaultLimit = 50;

    /// <summary>Mailpit's answer to a mutation.</summary>
    /// <returns>200 <c>ok</c> as text.</returns>
    public static IResult Ok() => Results.Text("ok", TextPlain);

    /// <summary>A refusal as plain text.</summary>
    /// <param name="status">The status.</param>
    /// <param name="reason">One line.</param>
    /// <returns>The result.</returns>
    public static IResult Error(int status, string reason) => Results.Text(reason, TextPlain, statusCode: status);

    /// <summary>Parses a message id: the decimal store id.</summary>
    /// <param name="text">The id from the path or a body.</param>
    /// <param name="id">The store id.</param>
    /// <returns>Whether it is one.</returns>
    public static bool TryParseId(string? text, out long id) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id > 0;

    /// <summary>Parses ids from a body; any that is not an id is an error (a client bug worth reporting).</summary>
    /// <param name="ids">The ids as sent.</param>
    /// <returns>The store ids.</returns>
    /// <exception cref="ApiRequestException">An id is malformed.</exception>
    public static List<long> ParseIds(IEnumerable<string> ids)
    {
        var result = new List<long>();
        foreach (var text in ids)
        {
            if (!TryParseId(text, out var id))
            {
                throw new ApiRequestException(400, $"'{Shorten(text)}' is not a message ID");
            }

            result.Add(id);
        }

        return result;
    }

    /// <summary>Reads Mailpit's <c>start</c> and <c>limit</c>: whole numbers, limit 0 or absent for 50, at most the cap.</summary>
    /// <param name="request">The request.</param>
    /// <param name="options">The limits.</param>
    /// <returns>The offset and the page size.</returns>
    /// <exception cref="ApiRequestException">A value is not a whole number.</exception>
    public static (int Start, int Limit) Paging(HttpRequest request, CatcherHttpOptions options)
    {
        var start = WholeNumber(request, "start") ?? 0;
        var limit = WholeNumber(request, "limit") is { } l and > 0 ? l : DefaultLimit;
        return (start, Math.Min(limit, options.MaxPageSize));
    }

    /// <summary>Reads the <c>tz</c> parameter: an IANA (or Windows) zone name; UTC when absent.</summary>
    /// <param name="request">The request.</param>
    /// <returns>The zone.</returns>
    /// <exception cref="ApiRequestException">The zone is unknown.</exception>
    public static TimeZoneInfo TimeZone(HttpRequest request)
    {
        var name = request.Query["tz"].ToString();
        if (name.Length == 0)
        {
            return TimeZoneInfo.Utc;
        }

        return TimeZoneInfo.TryFindSystemTimeZoneById(name, out var zone)
            ? zone
            : throw new ApiRequestException(400, $"unknown time zone '{Shorten(name)}' (use an IANA name such as Europe/Paris)");
    }

    /// <summary>Reads and compiles the <c>query</c> parameter.</summary>
    /// <param name="request">The request.</param>
    /// <param name="mailbox">The mailbox, which compiles.</param>
    /// <param name="options">The limits.</param>
    /// <param name="required">Whether an empty search is an error (search routes) or means none (<c>latest</c>).</param>
    /// <returns>The compiled search, or <see langword="null"/> when there is none and it is not required.</returns>
    /// <exception cref="ApiRequestException">The search is missing, too long or malformed.</exception>
    public static CompiledQuery? Query(HttpRequest request, CatcherMailbox mailbox, CatcherHttpOptions options, bool required)
    {
        var text = request.Query["query"].ToString().Trim();
        return Compile(text, request, mailbox, options, required);
    }

    /// <summary>
    /// Reads the <c>mailbox</c> parameter: absent or empty is every message (the default mailbox, what Mailpit shows);
    /// a configured name is that mailbox. A name that is not configured is 404 (the mailbox, a resource the path
    /// narrows to, does not exist), not an empty list: a typo must not look like an empty mailbox.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="mailbox">The catcher's mailbox, which knows the configured names.</param>
    /// <returns>The mailbox's canonical name, or <see langword="null"/> for every message.</returns>
    /// <exception cref="ApiRequestException">The name is not a configured mailbox.</exception>
    public static string? MailboxName(HttpRequest request, CatcherMailbox mailbox)
    {
        var text = request.Query["mailbox"].ToString().Trim();
        if (text.Length == 0)
        {
            return null;
        }

        return mailbox.Catcher.Mailboxes.TryFind(text, out var name)
            ? name
            : throw new ApiRequestException(404, $"no mailbox named \"{Shorten(text)}\": GET /api/v1/mailboxes lists them");
    }

    /// <summary>The <c>mailbox</c> parameter as a query for the store (see <see cref="MailboxName"/>).</summary>
    /// <param name="request">The request.</param>
    /// <param name="mailbox">The catcher's mailbox.</param>
    /// <returns>The mailbox's messages, or <see langword="null"/> for every message.</returns>
    /// <exception cref="ApiRequestException">The name is not a configured mailbox.</exception>
    public static CompiledQuery? MailboxScope(HttpRequest request, CatcherMailbox mailbox) =>
        MailboxName(request, mailbox) is { } name ? mailbox.Scope(name) : null;

    /// <summary>Compiles a search given in a body or the query string.</summary>
    /// <param name="text">The search.</param>
    /// <param name="request">The request (for its <c>tz</c>).</param>
    /// <param name="mailbox">The mailbox, which compiles.</param>
    /// <param name="options">The limits.</param>
    /// <param name="required">Whether an empty search is an error.</param>
    /// <returns>The compiled search, or <see langword="null"/>.</returns>
    /// <exception cref="ApiRequestException">The search is missing, too long or malformed.</exception>
    public static CompiledQuery? Compile(string text, HttpRequest request, CatcherMailbox mailbox, CatcherHttpOptions options, bool required)
    {
        if (text.Length == 0)
        {
            return required ? throw new ApiRequestException(400, "no search query: add ?query=") : null;
        }

        if (text.Length > options.MaxQueryLength)
        {
            throw new ApiRequestException(400, $"the search is {text.Length} characters long; at most {options.MaxQueryLength} are allowed");
        }

        try
        {
            return mailbox.Compile(text, TimeZone(request));
        }
        catch (MessageQueryException ex)
        {
            // The compiler's message is the whole line already: "bad search query: <reason> at offset <n>".
            throw new ApiRequestException(400, OneLine(ex.Message));
        }
    }

    /// <summary>
    /// Reads a JSON body of at most <paramref name="maxSize"/> octets. An empty body gives
    /// <paramref name="whenEmpty"/>; a larger one is 413; malformed JSON is 400 with the parser's reason.
    /// </summary>
    /// <typeparam name="T">The body type.</typeparam>
    /// <param name="request">The request.</param>
    /// <param name="type">The source-generated type information.</param>
    /// <param name="maxSize">The cap in octets.</param>
    /// <param name="whenEmpty">The value of an empty body, or <see langword="null"/> when a body is required.</param>
    /// <returns>The body.</returns>
    /// <exception cref="ApiRequestException">The body is too large, missing or malformed.</exception>
    public static async Task<T> ReadJsonAsync<T>(HttpRequest request, JsonTypeInfo<T> type, int maxSize, T? whenEmpty)
        where T : class
    {
        if (request.ContentLength > maxSize)
        {
            throw new ApiRequestException(413, $"the body is {request.ContentLength} octets; at most {maxSize} are allowed");
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
        {
            if (buffer.Length + read > maxSize)
            {
                throw new ApiRequestException(413, $"the body is larger than {maxSize} octets");
            }

            buffer.Write(chunk, 0, read);
        }

        if (buffer.Length == 0 || IsWhitespace(buffer))
        {
            return whenEmpty ?? throw new ApiRequestException(400, "the request needs a JSON body");
        }

        try
        {
            return JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), type)
                ?? throw new ApiRequestException(400, "the JSON body is null");
        }
        catch (JsonException ex)
        {
            throw new ApiRequestException(400, "malformed JSON: " + OneLine(ex.Message));
        }
    }

    /// <summary>Makes a message one line (a reason must never split a text answer or a log line).</summary>
    /// <param name="text">The text.</param>
    /// <returns>The first line.</returns>
    public static string OneLine(string text)
    {
        var end = text.AsSpan().IndexOfAny('\r', '\n');
        return end < 0 ? text : text[..end];
    }

    private static int? WholeNumber(HttpRequest request, string name)
    {
        var text = request.Query[name].ToString();
        if (text.Length == 0)
        {
            return null;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new ApiRequestException(400, $"{name} must be a whole number from 0, not '{Shorten(text)}'");
    }

    private static bool IsWhitespace(MemoryStream buffer) =>
        buffer.GetBuffer().AsSpan(0, (int)buffer.Length).IndexOfAnyExcept(" \t\r\n"u8) < 0;

    private static string Shorten(string text) => text.Length <= 64 ? OneLine(text) : OneLine(text[..64]) + "…";
}
