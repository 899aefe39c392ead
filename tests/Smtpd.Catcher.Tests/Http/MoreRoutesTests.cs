using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using MimeKit;

namespace Smtpd.Catcher.Tests.Http;

/// <summary>Tags, search deletes, send, info, views, extraction, health, hostile content and a route-group prefix.</summary>
public sealed class MoreRoutesTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TagsAreSetListedRenamedAndDeleted()
    {
        await using var host = await CatcherHost.StartAsync();
        var id = await host.SendSimpleAsync("Tagged");
        using (var set = await host.Client.PutAsync("/api/v1/tags", MessagesApiTests.JsonContent("{\"IDs\":[\"" + id + "\"],\"Tags\":[\"Signup\",\"beta\"]}"), Cancel))
        {
            Assert.Equal("ok", await set.Content.ReadAsStringAsync(Cancel));
        }

        Assert.Equal(["Signup", "beta"], (await host.GetJsonAsync("/api/v1/tags")).EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(["Signup", "beta"], (await host.GetJsonAsync("/api/v1/messages")).GetProperty("messages")[0].GetProperty("Tags").EnumerateArray().Select(t => t.GetString()));
        using (var rename = await host.Client.PutAsync("/api/v1/tags/beta", MessagesApiTests.JsonContent("{\"Name\":\"gamma\"}"), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, rename.StatusCode);
        }

        using (var delete = await host.Client.DeleteAsync("/api/v1/tags/Signup", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        Assert.Equal(["gamma"], (await host.GetJsonAsync("/api/v1/tags")).EnumerateArray().Select(t => t.GetString()));
        using var bad = await host.Client.PutAsync("/api/v1/tags", MessagesApiTests.JsonContent("{\"Tags\":[\"x\"]}"), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task SearchListsMatchesWithTheirCountsAndDeleteSearchRemovesOnlyThem()
    {
        await using var host = await CatcherHost.StartAsync();
        await host.SendSimpleAsync("Invoice 1");
        var keep = await host.SendSimpleAsync("Welcome");
        await host.SendSimpleAsync("invoice 2");

        var found = await host.GetJsonAsync("/api/v1/search?query=INVOICE");
        Assert.Equal(3, found.GetProperty("total").GetInt32());
        Assert.Equal(2, found.GetProperty("messages_count").GetInt32());
        Assert.Equal(2, found.GetProperty("count").GetInt32());
        using (var delete = await host.Client.DeleteAsync("/api/v1/search?query=invoice", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        Assert.Equal([keep], (await host.GetJsonAsync("/api/v1/messages")).GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()));
    }

    [Fact]
    public async Task SendStoresAMessageLocallyWithItsTagsAndBadInputGetsAJsonError()
    {
        await using var host = await CatcherHost.StartAsync();
        var body = """
            {"From":{"Email":"app@example.com","Name":"App"},"To":[{"Email":"user@example.com"}],"Bcc":["hidden@example.com"],
             "Subject":"Sent over HTTP","Text":"Your code is 482913","HTML":"<a href=\"https://example.com/confirm?t=1\">Confirm</a>",
             "Attachments":[{"Content":"aGVsbG8=","Filename":"hello.txt"}],"Headers":{"X-Test":"yes"},"Tags":["api"]}
            """;
        using var sent = await host.Client.PostAsync("/api/v1/send", MessagesApiTests.JsonContent(body), Cancel);
        Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        var answer = JsonDocument.Parse(await sent.Content.ReadAsStringAsync(Cancel)).RootElement;
        Json.HasMembers(answer, "ID");
        var id = answer.GetProperty("ID").GetString();

        var message = await host.GetJsonAsync($"/api/v1/message/{id}?read=false");
        Assert.Equal("Sent over HTTP", message.GetProperty("Subject").GetString());
        Assert.Equal(["api"], message.GetProperty("Tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal("hidden@example.com", message.GetProperty("Bcc")[0].GetProperty("Address").GetString());
        Assert.Equal("hello.txt", message.GetProperty("Attachments")[0].GetProperty("FileName").GetString());
        Assert.Equal("yes", (await host.GetJsonAsync($"/api/v1/message/{id}/headers")).GetProperty("X-Test")[0].GetString());

        var links = await host.GetJsonAsync($"/api/v1/message/{id}/links");
        var link = Assert.Single(links.GetProperty("Links").EnumerateArray());
        Assert.Equal("https://example.com/confirm?t=1", link.GetProperty("URL").GetString());
        Assert.Equal("Confirm", link.GetProperty("Text").GetString());
        var code = Assert.Single((await host.GetJsonAsync($"/api/v1/message/{id}/codes")).GetProperty("Codes").EnumerateArray());
        Assert.Equal("482913", code.GetProperty("Code").GetString());
        Assert.Contains("Your code is 482913", code.GetProperty("Context").GetString(), StringComparison.Ordinal);

        using var bad = await host.Client.PostAsync("/api/v1/send", MessagesApiTests.JsonContent("{\"From\":{\"Email\":\"not an address\"},\"To\":[{\"Email\":\"a@b.c\"}]}"), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/json", bad.Content.Headers.ContentType?.MediaType);
        Json.HasMembers(JsonDocument.Parse(await bad.Content.ReadAsStringAsync(Cancel)).RootElement, "Error");
    }

    [Fact]
    public async Task InfoWebUiLivezAndReadyzAnswerTheirShapes()
    {
        await using var host = await CatcherHost.StartAsync();
        await host.SendSimpleAsync("Counted");
        var info = await host.GetJsonAsync("/api/v1/info");
        Json.HasMembers(info, "Version", "LatestVersion", "Database", "DatabaseSize", "Messages", "Unread", "Tags", "RuntimeStats");
        Assert.Equal(1, info.GetProperty("Messages").GetInt32());
        Assert.Equal(1, info.GetProperty("RuntimeStats").GetProperty("SMTPAccepted").GetInt32());
        var webui = await host.GetJsonAsync("/api/v1/webui");
        Json.HasMembers(webui, "Label", "MessageRelay", "SpamAssassin", "ChaosEnabled", "DuplicatesIgnored", "HideDeleteAllButton", "Smtpd");
        Assert.False(webui.GetProperty("MessageRelay").GetProperty("Enabled").GetBoolean());
        foreach (var path in new[] { "/livez", "/readyz" })
        {
            using var response = await host.Client.GetAsync(path, Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("ok", await response.Content.ReadAsStringAsync(Cancel));
        }
    }

    [Fact]
    public async Task TheHtmlViewIsSandboxedAndItsCidImagesPointAtTheirParts()
    {
        await using var host = await CatcherHost.StartAsync();
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = "View";
        var builder = new BodyBuilder { HtmlBody = "<p>Hi<img src=\"cid:logo@x\"><script>alert(1)</script></p>" };
        builder.LinkedResources.Add("logo.png", [1, 2, 3], new ContentType("image", "png")).ContentId = "logo@x";
        message.Body = builder.ToMessageBody();
        var id = await host.SendAsync(message);
        var partId = (await host.GetJsonAsync($"/api/v1/message/{id}?read=false")).GetProperty("Inline")[0].GetProperty("PartID").GetString();

        using var view = await host.Client.GetAsync($"/view/{id}.html", Cancel);
        Assert.Equal("text/html", view.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Smtpd.Catcher.Http.Security.CatcherContentSecurityPolicy.View, view.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains($"src=\"../api/v1/message/{id}/part/{partId}\"", await view.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        using var remote = await host.Client.GetAsync($"/view/{id}.html?remote=1", Cancel);
        Assert.Equal(Smtpd.Catcher.Http.Security.CatcherContentSecurityPolicy.ViewWithRemoteContent, remote.Headers.GetValues("Content-Security-Policy").Single());
    }

    [Fact]
    public async Task XssPayloadsInSubjectFromNameFileNameAndHeaderComeBackAsEscapedJson()
    {
        await using var host = await CatcherHost.StartAsync();
        const string Payload = "<img src=x onerror=alert(1)>";
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(Payload, "alice@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = Payload;
        message.Headers.Add("X-Evil", Payload);
        var builder = new BodyBuilder { TextBody = "x" };
        builder.Attachments.Add(Payload + ".txt", [1], new ContentType("text", "plain"));
        message.Body = builder.ToMessageBody();
        var id = await host.SendAsync(message);

        foreach (var path in new[] { "/api/v1/messages", $"/api/v1/message/{id}?read=false", $"/api/v1/message/{id}/headers" })
        {
            using var response = await host.Client.GetAsync(path, Cancel);
            var text = await response.Content.ReadAsStringAsync(Cancel);
            Assert.DoesNotContain("<img", text, StringComparison.Ordinal);
            Assert.Contains("\\u003Cimg", text, StringComparison.Ordinal);
        }

        var full = await host.GetJsonAsync($"/api/v1/message/{id}?read=false");
        Assert.Equal(Payload, full.GetProperty("Subject").GetString());
        Assert.Equal(Payload, full.GetProperty("From").GetProperty("Name").GetString());
        using var part = await host.Client.GetAsync($"/api/v1/message/{id}/part/{full.GetProperty("Attachments")[0].GetProperty("PartID").GetString()}", Cancel);
        Assert.Equal(Payload + ".txt", part.Content.Headers.ContentDisposition?.FileNameStar ?? part.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
    }

    [Theory]
    [InlineData("catcher twice")]
    [InlineData("catcher and ui")]
    public async Task MappingTheCatcherTwiceAtOnePathStopsTheHostFromStartingAndNamesTheRoutes(string how)
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => StartAndStopAsync(app =>
        {
            app.MapSmtpdCatcher();
            if (how == "catcher twice")
            {
                app.MapSmtpdCatcher();
            }
            else
            {
                app.MapSmtpdCatcherUi();
            }
        }));
        Assert.StartsWith("The catcher's routes are mapped more than once at the same path (", ex.Message, StringComparison.Ordinal);
        Assert.Contains("GET /", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheCatcherMappedUnderTwoPrefixesStarts() =>
        await StartAndStopAsync(app =>
        {
            app.MapSmtpdCatcher();
            app.MapGroup("/mail").MapSmtpdCatcher();
        });

    /// <summary>Builds a host with the catcher mapped by <paramref name="map"/>, starts it and stops it.</summary>
    private static async Task StartAndStopAsync(Action<WebApplication> map)
    {
        var directory = Directory.CreateTempSubdirectory("smtpd-map-").FullName;
        try
        {
            await using var app = CatcherHost.Build(directory);
            map(app);
            await app.StartAsync(Cancel);
            await app.StopAsync(Cancel);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task MappedOnARouteGroupEveryRouteIsUnderItsPrefixOnly()
    {
        await using var host = await CatcherHost.StartAsync(map: app => app.MapGroup("/mail").MapSmtpdCatcher());
        await host.SendSimpleAsync("Prefixed");
        Assert.Equal(1, (await host.GetJsonAsync("/mail/api/v1/messages")).GetProperty("total").GetInt32());
        using var outside = await host.Client.GetAsync("/api/v1/messages", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, outside.StatusCode);
    }
}
