using System.Buffers;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Smtpd.Catcher.Http.Security;
using Smtpd.Catcher.Mime;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Http;

/// <summary>
/// The routes of Mailpit's API v1 and the catcher's own additions, as minimal API endpoints. Handlers are small:
/// they read the request (<see cref="ApiRequests"/>), call the mailbox and map records (<see cref="ApiMapper"/>).
/// </summary>
internal static partial class CatcherEndpoints
{
    /// <summary>The id that names the newest message (honouring <c>?query=</c>).</summary>
    private const string Latest = "latest";

    /// <summary>Maps every route onto <paramref name="routes"/>.</summary>
    /// <param name="routes">The app or a route group.</param>
    public static void Map(IEndpointRouteBuilder routes)
    {
        var api = routes.MapGroup("/api/v1").AddEndpointFilter(Guard);
        api.MapGet("/messages", List);
        api.MapPut("/messages", SetReadStatus);
        api.MapDelete("/messages", DeleteMessages);
        api.MapGet("/search", Search);
        api.MapDelete("/search", DeleteSearch);
        api.MapGet("/message/{id}", GetMessage);
        api.MapGet("/message/{id}/headers", GetHeaders);
        api.MapGet("/message/{id}/raw", GetRaw);
        api.MapGet("/message/{id}/part/{partId}", GetPart);
        api.MapGet("/message/{id}/links", GetLinks);
        api.MapGet("/message/{id}/codes", GetCodes);
        api.MapGet("/message/{id}/link-check", LinkCheck);
        api.MapGet("/tags", GetTags);
        api.MapPut("/tags", SetTags);
        api.MapPut("/tags/{tag}", RenameTag);
        api.MapDelete("/tags/{tag}", DeleteTag);
        api.MapGet("/info", Info);
        api.MapGet("/mailboxes", ListMailboxes);
        api.MapGet("/webui", WebUi);
        api.MapPost("/send", SendEndpoint.Send);
        ReleaseEndpoint.Map(api);

        var view = routes.MapGroup("/view").AddEndpointFilter(Guard);
        view.MapGet("/{file}", View);

        ChaosEndpoints.Map(routes);

        routes.MapGet("/livez", () => ApiRequests.Ok());
        routes.MapGet("/readyz", (CatcherMailbox mailbox) => mailbox.Catcher.Listeners.Count > 0
            ? ApiRequests.Ok()
            : ApiRequests.Error(503, "the catcher is not listening"));
    }

    /// <summary>Turns the API's refusals into their plain-text answers, and answers 503 when nothing is stored.</summary>
    private static async ValueTask<object?> Guard(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var mailbox = context.HttpContext.RequestServices.GetRequiredService<CatcherMailbox>();
        if (!mailbox.HasStore)
        {
            return ApiRequests.Error(503, "this catcher keeps no store (--no-store), so it has no messages to serve");
        }

        try
        {
            return await next(context);
        }
        catch (ApiRequestException ex)
        {
            return ApiRequests.Error(ex.Status, ex.Message);
        }
        catch (StoreUnavailableException ex)
        {
            // PostgreSQL is down or restarting: a reason and 503, and the next request tries again (no restart).
            return ApiRequests.Error(503, ex.Message);
        }
        catch (Npgsql.NpgsqlException ex) when (ex is not Npgsql.PostgresException || ex.IsTransient)
        {
            // The connection broke in the middle of the request (pg_terminate_backend, a server restart).
            return ApiRequests.Error(503, $"the PostgreSQL store is unavailable: {ex.Message}");
        }
    }

    private static IResult List(HttpRequest request, CatcherMailbox mailbox) => Page(request, mailbox, query: null);

    private static IResult Search(HttpRequest request, CatcherMailbox mailbox) =>
        Page(request, mailbox, ApiRequests.Query(request, mailbox, mailbox.Catcher.Options.Http, required: true));

    private static IResult Page(HttpRequest request, CatcherMailbox mailbox, CompiledQuery? query)
    {
        var (start, limit) = ApiRequests.Paging(request, mailbox.Catcher.Options.Http);
        var scope = ApiRequests.MailboxScope(request, mailbox);
        var (page, total, unread) = mailbox.Use(store =>
        {
            var page = store.Page(Mailboxes.MailboxScope.And(scope, query), start, limit);
            if (scope is null)
            {
                return (page, page.Total, page.Unread);
            }

            // In a mailbox, total and unread count the mailbox (its own cached count), as they count the store
            // without one; the page's own counts are then those of the search within the mailbox.
            var box = query is null ? page : store.Page(scope, 0, 0);
            return (page, box.Matched, box.MatchedUnread);
        });
        var messages = page.Messages.Select(ApiMapper.Summary).ToList();
        return Results.Json(new ApiMessagesSummary
        {
            Total = total,
            Unread = unread,
            Count = messages.Count,
            MessagesCount = page.Matched,
            MessagesUnread = page.MatchedUnread,
            Start = start,
            Tags = page.Tags,
            Messages = messages,
        }, ApiJsonContext.Default.ApiMessagesSummary);
    }

    private static async Task<IResult> SetReadStatus(HttpRequest request, CatcherMailbox mailbox)
    {
        var body = await ApiRequests.ReadJsonAsync(request, ApiJsonContext.Default.ReadStatusRequest, mailbox.Catcher.Options.Http.MaxJsonBodySize, whenEmpty: null);
        var search = body.Search?.Trim() ?? string.Empty;
        if (body.IDs is { Count: > 0 } && search.Length > 0)
        {
            return ApiRequests.Error(400, "give IDs or Search, not both");
        }

        // With ?mailbox=, only the mailbox's messages change, whether named by IDs or by a search.
        var scope = ApiRequests.MailboxScope(request, mailbox);
        if (body.IDs is { Count: > 0 } ids)
        {
            mailbox.SetRead(mailbox.InScope(ApiRequests.ParseIds(ids), scope), null, body.Read);
        }
        else
        {
            mailbox.SetRead(null, Mailboxes.MailboxScope.And(scope, ApiRequests.Compile(search, request, mailbox, mailbox.Catcher.Options.Http, required: false)), body.Read);
        }

        return ApiRequests.Ok();
    }

    private static async Task<IResult> DeleteMessages(HttpRequest request, CatcherMailbox mailbox)
    {
        // Mailpit: no body, or no IDs, deletes every message.
        var body = await ApiRequests.ReadJsonAsync(request, ApiJsonContext.Default.DeleteRequest, mailbox.Catcher.Options.Http.MaxJsonBodySize, whenEmpty: new DeleteRequest());
        if (ApiRequests.MailboxName(request, mailbox) is { } name)
        {
            // In a mailbox, a delete takes messages out of that mailbox only (docs/api.md "Mailboxes").
            mailbox.RemoveFromMailbox(body.IDs is { Count: > 0 } named ? ApiRequests.ParseIds(named) : null, null, name);
            return ApiRequests.Ok();
        }

        if (body.IDs is { Count: > 0 } ids)
        {
            mailbox.Delete(ApiRequests.ParseIds(ids), null);
        }
        else
        {
            mailbox.Clear();
        }

        return ApiRequests.Ok();
    }

    private static IResult DeleteSearch(HttpRequest request, CatcherMailbox mailbox)
    {
        var query = ApiRequests.Query(request, mailbox, mailbox.Catcher.Options.Http, required: true);
        if (ApiRequests.MailboxName(request, mailbox) is { } name)
        {
            mailbox.RemoveFromMailbox(null, query, name);
            return ApiRequests.Ok();
        }

        mailbox.Delete(null, query);
        return ApiRequests.Ok();
    }

    private static IResult GetMessage(string id, HttpRequest request, CatcherMailbox mailbox)
    {
        // Mailpit marks a message read when it is fetched; ?read=false is this catcher's no-side-effect read.
        var markRead = !string.Equals(request.Query["read"], "false", StringComparison.OrdinalIgnoreCase);
        var message = WithMime(id, request, mailbox, (record, mime) => ApiMapper.Message(record, mime));
        if (markRead && !message.Read && ApiRequests.TryParseId(message.ID, out var storeId))
        {
            mailbox.SetRead([storeId], null, read: true);
            message.Read = true;
        }

        return Results.Json(message, ApiJsonContext.Default.ApiMessage);
    }

    private static IResult GetHeaders(string id, HttpRequest request, CatcherMailbox mailbox)
    {
        var headers = WithMime(id, request, mailbox, (_, mime) =>
        {
            var map = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
            foreach (var header in mime.Headers)
            {
                if (!map.TryGetValue(header.Field, out var values))
                {
                    map[header.Field] = values = [];
                }

                values.Add(header.Value.Trim());
            }

            return map;
        });
        return Results.Json(headers, ApiJsonContext.Default.DictionaryStringListString);
    }

    private static IResult GetRaw(string id, HttpRequest request, CatcherMailbox mailbox)
    {
        var store = mailbox.Open();
        try
        {
            var record = Resolve(id, request, mailbox, store);
            // Streamed a chunk at a time from SQLite: a 10 MiB message never sits whole in memory.
            var content = store.OpenOwnedContent(record);
            var download = request.Query["dl"] == "1" ? ApiMapper.Id(record.Id) + ".eml" : null;
            return Results.Stream(content, ApiRequests.TextPlain, fileDownloadName: download);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    private static async Task GetPart(string id, string partId, HttpContext context, CatcherMailbox mailbox)
    {
        using var store = mailbox.Open();
        var record = Resolve(id, context.Request, mailbox, store);
        await using var content = store.OpenContent(record);
        using var mime = await MimeMessage.LoadAsync(content, persistent: true, context.RequestAborted);
        if (MessageParts.Find(mime, partId) is not { } part)
        {
            await ApiRequests.Error(404, "part not found").ExecuteAsync(context);
            return;
        }

        var type = part.Entity.ContentType;
        var declared = type.Charset is { } charset ? $"{type.MimeType}; charset={charset}" : type.MimeType;
        // One rule for every part: raster images, audio, video and plain text inline; anything that could run
        // script as an attachment; a sandboxing CSP either way.
        MimePartHeaders.For(declared, ApiMapper.FileName(part.Entity), download: context.Request.Query["dl"] == "1").ApplyTo(context.Response);
        context.Response.Headers.XContentTypeOptions = "nosniff";
        var response = context.Response;
        switch (part.Entity)
        {
            case MimePart { Content: { } body }:
                await body.DecodeToAsync(response.Body, context.RequestAborted);
                break;
            case MimeKit.MessagePart { Message: { } attached }:
                await attached.WriteToAsync(response.Body, context.RequestAborted);
                break;
            default:
                break;
        }
    }

    private static IResult GetLinks(string id, HttpRequest request, CatcherMailbox mailbox) =>
        Results.Json(
            WithMime(id, request, mailbox, (_, mime) => new ApiLinks { Links = ContentExtraction.Links(mime.TextBody ?? string.Empty, mime.HtmlBody ?? string.Empty) }),
            ApiJsonContext.Default.ApiLinks);

    /// <summary>
    /// Mailpit's link check: a HEAD request to each link of the message's HTML (anchors, images, stylesheets) and
    /// text, with <c>follow=true</c> (or 1) following redirects (see <see cref="LinkChecker"/> for the bounds).
    /// </summary>
    private static async Task<IResult> LinkCheck(string id, HttpRequest request, CatcherMailbox mailbox, LinkChecker checker)
    {
        var links = WithMime(id, request, mailbox, (_, mime) => ContentExtraction.CheckableLinks(mime.TextBody ?? string.Empty, mime.HtmlBody ?? string.Empty, LinkChecker.MaxLinks));
        var follow = request.Query["follow"].ToString() is "true" or "1";
        var result = await checker.CheckAsync(links, follow, request.HttpContext.RequestAborted);
        return Results.Json(result, ApiJsonContext.Default.ApiLinkCheck);
    }

    private static IResult GetCodes(string id, HttpRequest request, CatcherMailbox mailbox) =>
        Results.Json(
            WithMime(id, request, mailbox, (_, mime) => new ApiCodes { Codes = ContentExtraction.Codes(mime.Subject ?? string.Empty, ContentExtraction.PlainText(mime)) }),
            ApiJsonContext.Default.ApiCodes);

    private static IResult GetTags(CatcherMailbox mailbox) =>
        Results.Json(mailbox.Use(store => store.AllTags()), ApiJsonContext.Default.IReadOnlyListString);

    private static async Task<IResult> SetTags(HttpRequest request, CatcherMailbox mailbox)
    {
        var body = await ApiRequests.ReadJsonAsync(request, ApiJsonContext.Default.SetTagsRequest, mailbox.Catcher.Options.Http.MaxJsonBodySize, whenEmpty: null);
        if (body.IDs is null || body.Tags is null)
        {
            return ApiRequests.Error(400, "the body needs IDs and Tags (an empty Tags removes every tag)");
        }

        mailbox.SetTags(ApiRequests.ParseIds(body.IDs), CleanTags(body.Tags));
        return ApiRequests.Ok();
    }

    private static async Task<IResult> RenameTag(string tag, HttpRequest request, CatcherMailbox mailbox)
    {
        var body = await ApiRequests.ReadJsonAsync(request, ApiJsonContext.Default.RenameTagRequest, mailbox.Catcher.Options.Http.MaxJsonBodySize, whenEmpty: null);
        var name = CleanTags([body.Name ?? string.Empty]);
        if (name.Count == 0)
        {
            return ApiRequests.Error(400, "the body needs a Name that is not empty");
        }

        mailbox.RenameTag(tag, name[0]);
        return ApiRequests.Ok();
    }

    private static IResult DeleteTag(string tag, CatcherMailbox mailbox)
    {
        mailbox.DeleteTag(tag);
        return ApiRequests.Ok();
    }

    private static IResult Info(HttpRequest request, CatcherMailbox mailbox)
    {
        // With ?mailbox=, Messages and Unread count that mailbox; the rest describes the catcher as a whole.
        var scope = ApiRequests.MailboxScope(request, mailbox);
        var (messages, unread, tags, size) = mailbox.Use(store =>
        {
            var page = store.Page(scope, 0, 0);
            return (page.Matched, page.MatchedUnread, store.TagCounts(), store.DatabaseSize());
        });
        var catcher = mailbox.Catcher;
        return Results.Json(new ApiInfo
        {
            Version = typeof(MailCatcher).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? string.Empty,
            Database = catcher.StoreLocation ?? string.Empty,
            DatabaseSize = size,
            Messages = messages,
            Unread = unread,
            Tags = tags,
            RuntimeStats = new ApiRuntimeStats
            {
                Uptime = (long)(DateTimeOffset.UtcNow - catcher.StartedAt).TotalSeconds,
                Memory = Environment.WorkingSet,
                MessagesDeleted = catcher.DeletedCount,
                SMTPAccepted = catcher.AcceptedCount,
                SMTPAcceptedSize = catcher.AcceptedSize,
                SMTPRejected = catcher.RejectedCount,
                // Mailpit counts messages it drops as duplicates; the catcher keeps every one.
                SMTPIgnored = 0,
            },
        }, ApiJsonContext.Default.ApiInfo);
    }

    private static IResult ListMailboxes(CatcherMailbox mailbox)
    {
        var router = mailbox.Catcher.Mailboxes;
        // Each mailbox's counts are its scope's page counts, which the store remembers and brings up to date from the
        // rows added since (CountCache, PostgresCountCache): the inbox asks again after every stats event, and
        // counting the membership rows each time cost 40 ms at 100,000 messages in one mailbox.
        var names = router.Names.ToList();
        var (all, pages) = mailbox.Use(store => (store.Page(null, 0, 0), names.Select(name => store.Page(mailbox.Scope(name), 0, 0)).ToList()));
        return Results.Json(new ApiMailboxes
        {
            Total = all.Total,
            Unread = all.Unread,
            Mailboxes = [.. names.Select((name, i) => new ApiMailbox
            {
                Name = name,
                Rules = router.Rules[name],
                Keep = router.Keep.GetValueOrDefault(name),
                Total = pages[i].Matched,
                Unread = pages[i].MatchedUnread,
            })],
        }, ApiJsonContext.Default.ApiMailboxes);
    }

    private static IResult WebUi(CatcherMailbox mailbox)
    {
        var listeners = mailbox.Catcher.Listeners;
        return Results.Json(new ApiWebUi
        {
            Smtpd = new ApiWebUiSmtpd
            {
                SmtpListeners = [.. listeners.Where(l => !l.ImplicitTls).Select(l => l.EndPoint.ToString())],
                SmtpsListeners = [.. listeners.Where(l => l.ImplicitTls).Select(l => l.EndPoint.ToString())],
            },
        }, ApiJsonContext.Default.ApiWebUi);
    }

    private static IResult View(string file, HttpContext context, CatcherMailbox mailbox)
    {
        var html = file.EndsWith(".html", StringComparison.OrdinalIgnoreCase);
        if (!html && !file.EndsWith(".txt", StringComparison.OrdinalIgnoreCase))
        {
            return ApiRequests.Error(404, "not found: use /view/{ID}.html or /view/{ID}.txt");
        }

        var id = file[..file.LastIndexOf('.')];
        var request = context.Request;
        context.Response.Headers.XContentTypeOptions = "nosniff";
        if (!html)
        {
            return ViewText(id, request, mailbox);
        }

        var body = WithMime(id, request, mailbox, ViewHtml);
        CatcherContentSecurityPolicy.ApplyToView(context.Response, allowRemoteContent: request.Query["remote"] == "1");
        return Results.Text(body, "text/html; charset=utf-8");
    }

    /// <summary>
    /// The text body (the part the message's <c>Text</c> shows), decoded from its transfer encoding and charset into
    /// UTF-8 a chunk at a time as it is sent. Made as one string, a 10 MiB body held about four times its size per
    /// request (the string, the response buffered whole), so memory grew with the body and with parallel downloads
    /// (issue 13; docs/performance.md "Catcher API: wait latency, raw download and 1,000,000 messages"). A message
    /// without a text part gets its HTML made text, which needs the whole HTML, as before.
    /// </summary>
    private static IResult ViewText(string id, HttpRequest request, CatcherMailbox mailbox)
    {
        Stream content;
        var store = mailbox.Open();
        try
        {
            // Owned: the read transaction keeps the message whole while it streams, and closing it closes the store.
            content = store.OpenOwnedContent(Resolve(id, request, mailbox, store));
        }
        catch
        {
            store.Dispose();
            throw;
        }

        MimeMessage? mime = null;
        var handedOver = false;
        try
        {
            // persistent: the parts stay in the stored chunks, so parsing reads the message once and keeps none of it.
            mime = MimeMessage.Load(content, persistent: true);
            if (MessageParts.Classify(mime).FirstOrDefault(p => p.Role == PartRole.TextBody)?.Entity is TextPart { Content: { } text } part)
            {
                Encoding? declared;
                try
                {
                    declared = part.ContentType.CharsetEncoding;
                }
                catch (NotSupportedException)
                {
                    declared = null;
                }

                var (parsed, stored) = (mime, content);
                handedOver = true;
                return Results.Stream(output => WriteTextAsync(text, declared, output, parsed, stored), ApiRequests.TextPlain);
            }
        }
        catch (FormatException)
        {
            // Not MIME at all: WithMime below shows it as text, as before.
        }
        finally
        {
            if (!handedOver)
            {
                mime?.Dispose();
                content.Dispose();
            }
        }

        return Results.Text(WithMime(id, request, mailbox, static (_, m) => ContentExtraction.PlainText(m)), ApiRequests.TextPlain);
    }

    /// <summary>
    /// Copies a text part to <paramref name="output"/> as UTF-8, then closes the parsed message and its stored
    /// content. The result is what <see cref="TextPart.Text"/> would give (the message's <c>Text</c>, and this
    /// route's answer before it streamed): the same filters GetText uses, after the declared charset or, without
    /// one, strict UTF-8 and else Latin-1, which takes a first pass to tell (Text also honours a UTF-16 byte order
    /// mark there; this does not).
    /// </summary>
    private static async Task WriteTextAsync(IMimeContent text, Encoding? declared, Stream output, MimeMessage mime, Stream content)
    {
        try
        {
            var source = declared ?? (await IsUtf8Async(text) ? Encoding.UTF8 : Encoding.Latin1);
            // Not disposed: that would close the response stream, which the server owns.
            var filtered = new MimeKit.IO.FilteredStream(output);
            filtered.Add(new MimeKit.IO.Filters.CharsetFilter(source, Encoding.UTF8));
            // TextPart.GetText's own second filter: line ends as the platform writes them (LF here), as Text has them.
            filtered.Add(FormatOptions.Default.NewLineFormat == NewLineFormat.Dos ? new MimeKit.IO.Filters.Unix2DosFilter() : new MimeKit.IO.Filters.Dos2UnixFilter());
            await text.DecodeToAsync(filtered);
            await filtered.FlushAsync();
        }
        finally
        {
            mime.Dispose();
            await content.DisposeAsync();
        }
    }

    /// <summary>Whether the decoded part is valid UTF-8, read a chunk at a time.</summary>
    private static async Task<bool> IsUtf8Async(IMimeContent text)
    {
        var decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetDecoder();
        const int Chunk = 16 * 1024;
        var bytes = ArrayPool<byte>.Shared.Rent(Chunk);
        // GetChars, not GetCharCount: only it carries a sequence split between two chunks over to the next.
        var chars = ArrayPool<char>.Shared.Rent(Chunk + 4);
        try
        {
            await using var decoded = text.Open();
            int read;
            while ((read = await decoded.ReadAsync(bytes.AsMemory(0, Chunk))) > 0)
            {
                _ = decoder.GetChars(bytes, 0, read, chars, 0, flush: false);
            }

            _ = decoder.GetChars(bytes, 0, 0, chars, 0, flush: true);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    /// <summary>The HTML body with each <c>cid:</c> URL that names a part rewritten to the part's URL (relative, so a base path carries over).</summary>
    private static string ViewHtml(MessageRecord record, MimeMessage mime)
    {
        var parts = MessageParts.Classify(mime);
        var html = parts.FirstOrDefault(p => p.Role == PartRole.HtmlBody)?.Entity is TextPart part ? part.Text : string.Empty;
        var byContentId = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in parts)
        {
            if (p.Entity.ContentId is { } contentId)
            {
                byContentId.TryAdd(contentId, p.PartId);
            }
        }

        var prefix = $"../api/v1/message/{ApiMapper.Id(record.Id)}/part/";
        return CidUrl().Replace(html, match =>
            byContentId.TryGetValue(Uri.UnescapeDataString(match.Groups["id"].Value), out var partId)
                ? prefix + Uri.EscapeDataString(partId)
                : match.Value);
    }

    /// <summary>Finds the message a path names (a store id, or <c>latest</c> with the request's search) or refuses with 404.</summary>
    private static MessageRecord Resolve(string id, HttpRequest request, CatcherMailbox mailbox, IMessageStore store)
    {
        long storeId;
        if (string.Equals(id, Latest, StringComparison.OrdinalIgnoreCase))
        {
            var query = Mailboxes.MailboxScope.And(ApiRequests.MailboxScope(request, mailbox), ApiRequests.Query(request, mailbox, mailbox.Catcher.Options.Http, required: false));
            storeId = store.Latest(query) ?? throw new ApiRequestException(404, query is null ? "there are no messages" : "no message matches the search");
        }
        else if (!ApiRequests.TryParseId(id, out storeId))
        {
            throw new ApiRequestException(404, "message not found");
        }
        else if (ApiRequests.MailboxScope(request, mailbox) is { } scope && !store.Matches(scope, storeId))
        {
            throw new ApiRequestException(404, "message not found in this mailbox");
        }

        return store.FindWithTags(storeId) ?? throw new ApiRequestException(404, "message not found");
    }

    /// <summary>Runs <paramref name="work"/> with the message and its parsed content, both valid only inside it.</summary>
    private static T WithMime<T>(string id, HttpRequest request, CatcherMailbox mailbox, Func<MessageRecord, MimeMessage, T> work)
    {
        using var store = mailbox.Open();
        var record = Resolve(id, request, mailbox, store);
        using var content = store.OpenContent(record);
        MimeMessage mime;
        try
        {
            // persistent: parts stay in the stored chunks instead of being copied; the stream outlives the parse.
            mime = MimeMessage.Load(content, persistent: true);
        }
        catch (FormatException)
        {
            // Not MIME at all: show it as a message with only its text.
            content.Position = 0;
            using var reader = new StreamReader(content, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, leaveOpen: true);
            mime = new MimeMessage { Body = new TextPart("plain") { Text = reader.ReadToEnd() } };
        }

        using (mime)
        {
            return work(record, mime);
        }
    }

    private static List<string> CleanTags(IEnumerable<string> tags) =>
        [.. tags.Select(t => t.Trim()).Where(t => t.Length > 0 && !t.Any(char.IsControl)).Distinct(StringComparer.Ordinal)];

    [GeneratedRegex(@"\bcid:(?<id>[^""'\s)>]+)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex CidUrl();
}
