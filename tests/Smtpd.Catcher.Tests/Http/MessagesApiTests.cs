using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MimeKit;
using Smtpd.Catcher.Http;

namespace Smtpd.Catcher.Tests.Http;

/// <summary>Mailpit API v1 contract: the list, one message, its raw bytes, headers and parts, read status and deletes.</summary>
public sealed class MessagesApiTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheListHasMailpitsSnakeCaseTopLevelAndPascalCaseMessagesNewestFirst()
    {
        await using var host = await CatcherHost.StartAsync();
        var first = await host.SendSimpleAsync("First");
        var second = await host.SendSimpleAsync("Second");

        var list = await host.GetJsonAsync("/api/v1/messages");
        Json.HasMembers(list, "total", "unread", "count", "messages_count", "messages_unread", "start", "tags", "messages");
        Assert.Equal(2, list.GetProperty("total").GetInt32());
        Assert.Equal(2, list.GetProperty("unread").GetInt32());
        Assert.Equal(2, list.GetProperty("count").GetInt32());
        Assert.Equal(2, list.GetProperty("messages_count").GetInt32());
        Assert.Equal(0, list.GetProperty("start").GetInt32());
        Assert.Equal(JsonValueKind.Array, list.GetProperty("tags").ValueKind);
        var messages = list.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal([second, first], messages.Select(m => m.GetProperty("ID").GetString()));
        foreach (var message in messages)
        {
            Json.IsSummary(message);
        }

        var newest = messages[0];
        Assert.Equal("Second", newest.GetProperty("Subject").GetString());
        Assert.Equal("alice@example.com", newest.GetProperty("From").GetProperty("Address").GetString());
        Assert.Equal("bob@example.com", newest.GetProperty("To")[0].GetProperty("Address").GetString());
        Assert.Equal(0, newest.GetProperty("Cc").GetArrayLength());
        Assert.Equal(0, newest.GetProperty("Bcc").GetArrayLength());
        Assert.Equal("Hello", newest.GetProperty("Snippet").GetString());
        Assert.False(newest.GetProperty("Read").GetBoolean());
        var smtpd = newest.GetProperty("Smtpd");
        Assert.Equal("alice@example.com", smtpd.GetProperty("MailFrom").GetString());
        Assert.Equal(["bob@example.com"], smtpd.GetProperty("Recipients").EnumerateArray().Select(r => r.GetString()));
        Assert.StartsWith("127.0.0.1:", smtpd.GetProperty("Client").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, smtpd.GetProperty("Tls").ValueKind);
        Assert.Equal(64, smtpd.GetProperty("Sha256").GetString()!.Length);
    }

    [Fact]
    public async Task StartAndLimitPageTheListAndALimitPastTheCapIsCut()
    {
        await using var host = await CatcherHost.StartAsync(o => o.Http.MaxPageSize = 2);
        var ids = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add(await host.SendSimpleAsync($"Message {i}"));
        }

        var page = await host.GetJsonAsync("/api/v1/messages?start=1&limit=2");
        Assert.Equal(1, page.GetProperty("start").GetInt32());
        Assert.Equal(4, page.GetProperty("total").GetInt32());
        Assert.Equal([ids[2], ids[1]], page.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()));
        var capped = await host.GetJsonAsync("/api/v1/messages?limit=100");
        Assert.Equal(2, capped.GetProperty("count").GetInt32());
    }

    [Theory]
    [InlineData("/api/v1/messages?start=-1")]
    [InlineData("/api/v1/messages?limit=ten")]
    [InlineData("/api/v1/search?query=")]
    [InlineData("/api/v1/search?query=a&tz=Nowhere/Atlantis")]
    public async Task BadQueryValuesGet400WithAOneLineTextReason(string path)
    {
        await using var host = await CatcherHost.StartAsync();
        using var response = await host.Client.GetAsync(path, Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        Assert.NotEmpty(text);
        Assert.DoesNotContain('\n', text);
    }

    [Theory]
    [InlineData("/api/v1/message/999")]
    [InlineData("/api/v1/message/not-an-id")]
    [InlineData("/api/v1/message/999/raw")]
    [InlineData("/api/v1/message/999/headers")]
    [InlineData("/api/v1/message/999/part/1")]
    [InlineData("/api/v1/message/latest")]
    [InlineData("/view/999.html")]
    public async Task AnUnknownIdGets404AsText(string path)
    {
        await using var host = await CatcherHost.StartAsync();
        using var response = await host.Client.GetAsync(path, Cancel);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task FetchingAMessageMarksItReadButReadFalseLeavesItUnread()
    {
        await using var host = await CatcherHost.StartAsync();
        var id = await host.SendSimpleAsync("Peek");

        var peek = await host.GetJsonAsync($"/api/v1/message/{id}?read=false");
        Assert.False(peek.GetProperty("Read").GetBoolean());
        Assert.Equal(1, (await host.GetJsonAsync("/api/v1/messages")).GetProperty("unread").GetInt32());

        var read = await host.GetJsonAsync($"/api/v1/message/{id}");
        Assert.True(read.GetProperty("Read").GetBoolean());
        var list = await host.GetJsonAsync("/api/v1/messages");
        Assert.Equal(0, list.GetProperty("unread").GetInt32());
        Assert.True(list.GetProperty("messages")[0].GetProperty("Read").GetBoolean());
    }

    [Fact]
    public async Task TheFullMessageHasMailpitsMembersBodiesPartsAndTheSmtpdTransaction()
    {
        await using var host = await CatcherHost.StartAsync();
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@example.com"));
        message.To.Add(new MailboxAddress("Bob", "bob@example.com"));
        message.Cc.Add(MailboxAddress.Parse("carol@example.com"));
        message.ReplyTo.Add(MailboxAddress.Parse("replies@example.com"));
        message.Subject = "Full";
        message.MessageId = "full@example.com";
        message.Headers.Add("List-Unsubscribe", "<https://example.com/unsub>, <mailto:unsub@example.com>");
        var builder = new BodyBuilder { TextBody = "Plain body", HtmlBody = "<p>Html <img src=\"cid:logo@example.com\"></p>" };
        var logo = builder.LinkedResources.Add("logo.png", [0x89, 0x50, 0x4e, 0x47], new ContentType("image", "png"));
        logo.ContentId = "logo@example.com";
        builder.Attachments.Add("report.pdf", Encoding.ASCII.GetBytes("%PDF-1.4"), new ContentType("application", "pdf"));
        message.Body = builder.ToMessageBody();
        var id = await host.SendAsync(message, ["bob@example.com", "carol@example.com", "dave@example.com"]);

        var full = await host.GetJsonAsync($"/api/v1/message/{id}");
        Json.HasMembers(full,
            "ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo", "ReturnPath", "Subject", "ListUnsubscribe", "Date",
            "Created", "Tags", "Username", "Text", "HTML", "Size", "Inline", "Attachments", "Smtpd");
        Assert.Equal(id, full.GetProperty("ID").GetString());
        Assert.Equal("full@example.com", full.GetProperty("MessageID").GetString());
        Assert.Equal("Alice", full.GetProperty("From").GetProperty("Name").GetString());
        Assert.Equal("carol@example.com", full.GetProperty("Cc")[0].GetProperty("Address").GetString());
        // dave was only in the envelope: a blind copy.
        Assert.Equal("dave@example.com", full.GetProperty("Bcc")[0].GetProperty("Address").GetString());
        Assert.Equal("replies@example.com", full.GetProperty("ReplyTo")[0].GetProperty("Address").GetString());
        Assert.Equal("alice@example.com", full.GetProperty("ReturnPath").GetString());
        Assert.Equal("Plain body", full.GetProperty("Text").GetString()!.Trim());
        Assert.Contains("cid:logo@example.com", full.GetProperty("HTML").GetString(), StringComparison.Ordinal);
        var unsubscribe = full.GetProperty("ListUnsubscribe");
        Json.HasMembers(unsubscribe, "Header", "Links", "Errors", "HeaderPost");
        Assert.Equal(["https://example.com/unsub", "mailto:unsub@example.com"], unsubscribe.GetProperty("Links").EnumerateArray().Select(l => l.GetString()));

        var inline = Assert.Single(full.GetProperty("Inline").EnumerateArray());
        Json.HasMembers(inline, "PartID", "FileName", "ContentType", "ContentID", "Size", "Checksums");
        Assert.Equal("logo.png", inline.GetProperty("FileName").GetString());
        Assert.Equal("image/png", inline.GetProperty("ContentType").GetString());
        Assert.Equal("logo@example.com", inline.GetProperty("ContentID").GetString());
        Assert.Equal(4, inline.GetProperty("Size").GetInt32());
        var attachment = Assert.Single(full.GetProperty("Attachments").EnumerateArray());
        Assert.Equal("report.pdf", attachment.GetProperty("FileName").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes("%PDF-1.4"))), attachment.GetProperty("Checksums").GetProperty("SHA256").GetString());

        var smtpd = full.GetProperty("Smtpd");
        Assert.Equal(["bob@example.com", "carol@example.com", "dave@example.com"], smtpd.GetProperty("Recipients").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(JsonValueKind.String, smtpd.GetProperty("Helo").ValueKind);

        // The summary counts what the full message lists.
        var summary = (await host.GetJsonAsync("/api/v1/messages")).GetProperty("messages")[0];
        Assert.Equal(1, summary.GetProperty("Attachments").GetInt32());
        Assert.Equal("dave@example.com", summary.GetProperty("Bcc")[0].GetProperty("Address").GetString());

        // Parts: the inline image is served inline, the PDF as an attachment.
        using var image = await host.Client.GetAsync($"/api/v1/message/{id}/part/{inline.GetProperty("PartID").GetString()}", Cancel);
        Assert.Equal(HttpStatusCode.OK, image.StatusCode);
        Assert.Equal("image/png", image.Content.Headers.ContentType?.MediaType);
        Assert.Equal("inline", image.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal([0x89, 0x50, 0x4e, 0x47], await image.Content.ReadAsByteArrayAsync(Cancel));
        using var pdf = await host.Client.GetAsync($"/api/v1/message/{id}/part/{attachment.GetProperty("PartID").GetString()}", Cancel);
        Assert.Equal("attachment", pdf.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("report.pdf", pdf.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        using var missing = await host.Client.GetAsync($"/api/v1/message/{id}/part/9.9", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task HtmlAndSvgAttachmentsAreNeverServedInline()
    {
        await using var host = await CatcherHost.StartAsync();
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = "Hostile parts";
        var builder = new BodyBuilder { TextBody = "see attached", HtmlBody = "<img src=\"cid:svg@example.com\">" };
        builder.Attachments.Add("page.html", Encoding.UTF8.GetBytes("<script>alert(1)</script>"), new ContentType("text", "html"));
        var svg = builder.LinkedResources.Add("image.svg", Encoding.UTF8.GetBytes("<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>"), new ContentType("image", "svg+xml"));
        svg.ContentId = "svg@example.com";
        message.Body = builder.ToMessageBody();
        var id = await host.SendAsync(message);

        var full = await host.GetJsonAsync($"/api/v1/message/{id}");
        var parts = full.GetProperty("Inline").EnumerateArray().Concat(full.GetProperty("Attachments").EnumerateArray()).ToList();
        Assert.Equal(2, parts.Count);
        foreach (var part in parts)
        {
            using var response = await host.Client.GetAsync($"/api/v1/message/{id}/part/{part.GetProperty("PartID").GetString()}", Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        }
    }

    [Fact]
    public async Task RawIsTheExactBytesAsTextAndDl1MakesItADownload()
    {
        await using var host = await CatcherHost.StartAsync();
        var id = await host.SendSimpleAsync("Raw", text: new string('x', 300_000));
        var full = await host.GetJsonAsync($"/api/v1/message/{id}?read=false");
        var sha = full.GetProperty("Smtpd").GetProperty("Sha256").GetString();

        using var raw = await host.Client.GetAsync($"/api/v1/message/{id}/raw", Cancel);
        Assert.Equal(HttpStatusCode.OK, raw.StatusCode);
        Assert.Equal("text/plain", raw.Content.Headers.ContentType?.MediaType);
        Assert.Null(raw.Content.Headers.ContentDisposition);
        var bytes = await raw.Content.ReadAsByteArrayAsync(Cancel);
        Assert.Equal(full.GetProperty("Size").GetInt64(), bytes.LongLength);
        Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(bytes)));

        using var download = await host.Client.GetAsync($"/api/v1/message/{id}/raw?dl=1", Cancel);
        Assert.Equal("attachment", download.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal($"{id}.eml", download.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
    }

    [Fact]
    public async Task HeadersAreAnObjectOfStringArraysInTheMessagesCase()
    {
        await using var host = await CatcherHost.StartAsync();
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = "Headers";
        message.Headers.Add("X-Repeat", "one");
        message.Headers.Add("X-Repeat", "two");
        message.Body = new TextPart("plain") { Text = "." };
        var id = await host.SendAsync(message);

        var headers = await host.GetJsonAsync($"/api/v1/message/{id}/headers");
        Assert.Equal(["one", "two"], headers.GetProperty("X-Repeat").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal("Headers", headers.GetProperty("Subject")[0].GetString());
        Assert.All(headers.EnumerateObject(), p => Assert.Equal(JsonValueKind.Array, p.Value.ValueKind));
    }

    [Fact]
    public async Task LatestNamesTheNewestMessageAndHonoursTheQuery()
    {
        await using var host = await CatcherHost.StartAsync();
        var invoice = await host.SendSimpleAsync("Invoice 7");
        var welcome = await host.SendSimpleAsync("Welcome aboard");

        Assert.Equal(welcome, (await host.GetJsonAsync("/api/v1/message/latest?read=false")).GetProperty("ID").GetString());
        Assert.Equal(invoice, (await host.GetJsonAsync("/api/v1/message/latest?query=invoice&read=false")).GetProperty("ID").GetString());
        using var none = await host.Client.GetAsync("/api/v1/message/latest?query=nothing-matches", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
    }

    [Fact]
    public async Task PutMessagesSetsReadStatusByIdsOrForAllAndAnnouncesEachChange()
    {
        await using var host = await CatcherHost.StartAsync();
        var a = await host.SendSimpleAsync("Alpha");
        var b = await host.SendSimpleAsync("Bravo");
        var events = new List<CatcherChange>();
        host.Catcher.Events.Published += e => { lock (events) { events.Add(e); } };

        using (var response = await host.Client.PutAsync("/api/v1/messages", JsonContent("{\"IDs\":[\"" + a + "\"],\"Read\":true}"), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("ok", await response.Content.ReadAsStringAsync(Cancel));
        }

        Assert.Equal(1, (await host.GetJsonAsync("/api/v1/messages")).GetProperty("unread").GetInt32());
        var update = Assert.Single(events);
        Assert.Equal("update", update.Type);
        Assert.Equal(a, Assert.IsType<ReadUpdateEvent>(update.Data).ID);

        using (var all = await host.Client.PutAsync("/api/v1/messages", JsonContent("{\"Read\":true}"), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, all.StatusCode);
        }

        Assert.Equal(0, (await host.GetJsonAsync("/api/v1/messages")).GetProperty("unread").GetInt32());
        Assert.Equal(b, Assert.IsType<ReadUpdateEvent>(events[^1].Data).ID);

        using var unread = await host.Client.PutAsync("/api/v1/messages", JsonContent("{\"Search\":\"bravo\",\"Read\":false}"), Cancel);
        Assert.Equal(HttpStatusCode.OK, unread.StatusCode);
        Assert.Equal(1, (await host.GetJsonAsync("/api/v1/messages")).GetProperty("unread").GetInt32());
    }

    [Theory]
    [InlineData("{\"IDs\":[1],\"Read\":true}")]
    [InlineData("{\"IDs\":[\"x\"],\"Read\":true}")]
    [InlineData("{not json")]
    [InlineData("")]
    [InlineData("{\"IDs\":[\"1\"],\"Search\":\"a\",\"Read\":true}")]
    public async Task AMalformedReadStatusBodyGets400(string body)
    {
        await using var host = await CatcherHost.StartAsync();
        using var response = await host.Client.PutAsync("/api/v1/messages", JsonContent(body), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain('\n', await response.Content.ReadAsStringAsync(Cancel));
    }

    [Fact]
    public async Task ABodyPastTheCapGets413()
    {
        await using var host = await CatcherHost.StartAsync(o => o.Http.MaxJsonBodySize = 1024);
        var ids = string.Join(",", Enumerable.Range(1, 500).Select(i => $"\"{i}\""));
        using var response = await host.Client.PutAsync("/api/v1/messages", JsonContent("{\"IDs\":[" + ids + "],\"Read\":true}"), Cancel);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task DeleteByIdsRemovesThoseAndDeleteWithoutIdsRemovesAll()
    {
        await using var host = await CatcherHost.StartAsync();
        var a = await host.SendSimpleAsync("A");
        var b = await host.SendSimpleAsync("B");
        var c = await host.SendSimpleAsync("C");
        var events = new List<CatcherChange>();
        host.Catcher.Events.Published += e => { lock (events) { events.Add(e); } };

        using (var request = new HttpRequestMessage(HttpMethod.Delete, "/api/v1/messages") { Content = JsonContent("{\"IDs\":[\"" + b + "\"]}") })
        using (var response = await host.Client.SendAsync(request, Cancel))
        {
            Assert.Equal("ok", await response.Content.ReadAsStringAsync(Cancel));
        }

        Assert.Equal([c, a], (await host.GetJsonAsync("/api/v1/messages")).GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()));
        Assert.Equal(("delete", b), (events[0].Type, Assert.IsType<DeleteEvent>(events[0].Data).ID));
        using (var gone = await host.Client.GetAsync($"/api/v1/message/{b}/raw", Cancel))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        using (var response = await host.Client.DeleteAsync("/api/v1/messages", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(0, (await host.GetJsonAsync("/api/v1/messages")).GetProperty("total").GetInt32());
        Assert.Equal("truncate", events[^1].Type);
    }

    [Fact]
    public async Task ListAndSearchOnAStoreOfOnlyRawBytesStillAnswer()
    {
        await using var host = await CatcherHost.StartAsync();
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Body = new TextPart("plain") { Text = "no subject at all" };
        var id = await host.SendAsync(message);

        var summary = (await host.GetJsonAsync("/api/v1/messages")).GetProperty("messages")[0];
        Assert.Equal(string.Empty, summary.GetProperty("Subject").GetString());
        Assert.Equal(JsonValueKind.Array, summary.GetProperty("ReplyTo").ValueKind);
        using var text = await host.Client.GetAsync($"/view/{id}.txt", Cancel);
        Assert.Equal("no subject at all", (await text.Content.ReadAsStringAsync(Cancel)).Trim());
    }

    [Theory]
    [InlineData("iso-8859-1", "quoted-printable", false)]
    [InlineData("utf-8", "base64", false)]
    [InlineData(null, "8bit", false)]
    [InlineData(null, "8bit", true)]
    public async Task ViewTextStreamsTheMessagesTextAsUtf8WhateverTheCharsetAndEncoding(string? charset, string transferEncoding, bool latin1WithoutCharset)
    {
        await using var host = await CatcherHost.StartAsync();
        // Long enough to cross every buffer on the way, with a non-ASCII letter on every line and CRLF line ends,
        // which the message's Text turns into LF.
        var text = new StringBuilder();
        for (var i = 0; text.Length < 200_000; i++)
        {
            text.Append("line ").Append(i).Append(" caf\u00e9 na\u00efve\r\n");
        }

        var bytes = (latin1WithoutCharset ? Encoding.Latin1 : charset is null ? Encoding.UTF8 : Encoding.GetEncoding(charset)).GetBytes(text.ToString());
        var part = new TextPart("plain") { Content = new MimeContent(new MemoryStream(bytes)), ContentTransferEncoding = ContentEncodingFor(transferEncoding) };
        if (charset is not null)
        {
            part.ContentType.Charset = charset;
        }

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = "text view";
        message.Body = new Multipart("alternative") { part, new TextPart("html") { Text = "<p>the html</p>" } };
        var id = await host.SendAsync(message);

        var expected = (await host.GetJsonAsync($"/api/v1/message/{id}")).GetProperty("Text").GetString()!;
        Assert.Contains("line 10 caf\u00e9 na\u00efve\n", expected, StringComparison.Ordinal);
        using var view = await host.Client.GetAsync($"/view/{id}.txt", Cancel);
        Assert.Equal(HttpStatusCode.OK, view.StatusCode);
        Assert.Equal("text/plain; charset=utf-8", view.Content.Headers.ContentType?.ToString());
        Assert.Equal(Encoding.UTF8.GetBytes(expected), await view.Content.ReadAsByteArrayAsync(Cancel));
    }

    [Fact]
    public async Task ViewTextOfAMessageWithOnlyHtmlIsTheHtmlMadeText()
    {
        await using var host = await CatcherHost.StartAsync();
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Body = new TextPart("html") { Text = "<p>only <b>html</b></p><script>x()</script>" };
        var id = await host.SendAsync(message);

        using var view = await host.Client.GetAsync($"/view/{id}.txt", Cancel);
        var text = await view.Content.ReadAsStringAsync(Cancel);
        Assert.Contains("only", text, StringComparison.Ordinal);
        Assert.Contains("html", text, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>", text, StringComparison.Ordinal);
        Assert.DoesNotContain("x()", text, StringComparison.Ordinal);
    }

    private static ContentEncoding ContentEncodingFor(string name) => name switch
    {
        "quoted-printable" => ContentEncoding.QuotedPrintable,
        "base64" => ContentEncoding.Base64,
        _ => ContentEncoding.EightBit,
    };

    internal static StringContent JsonContent(string json) => new(json, Encoding.UTF8, "application/json");
}
