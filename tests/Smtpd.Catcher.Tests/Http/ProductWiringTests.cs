using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Smtpd.Catcher.Http.Security;
using Smtpd.Catcher.Tests.Http.Live;

namespace Smtpd.Catcher.Tests.Http;

/// <summary>
/// The catcher as an ASP.NET Core application gets it from <c>AddSmtpdCatcher</c> and <c>MapSmtpdCatcher</c>: the
/// REST routes, the live events fed by SMTP and by every mutation route, the inbox, and the counters of
/// <c>/api/v1/info</c> and <c>/api/v1/webui</c>.
/// </summary>
public sealed class ProductWiringTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EveryMutationRoutePublishesItsEventOnTheWebSocketInOrder()
    {
        await using var host = await CatcherHost.StartAsync();
        using var socket = await ConnectAsync(host);

        var id = await host.SendSimpleAsync("Over SMTP");
        var stored = await LiveClients.NextFrameAsync(socket);
        Assert.Equal("new", stored.GetProperty("Type").GetString());
        Assert.Equal(id, stored.GetProperty("Data").GetProperty("ID").GetString());
        Json.IsSummary(stored.GetProperty("Data"));

        await OkAsync(host.Client.PutAsync("/api/v1/messages", MessagesApiTests.JsonContent($$"""{"IDs":["{{id}}"],"Read":true}"""), Cancel));
        var read = await LiveClients.NextFrameAsync(socket);
        Assert.Equal(("update", id, true), (read.GetProperty("Type").GetString(), read.GetProperty("Data").GetProperty("ID").GetString(), read.GetProperty("Data").GetProperty("Read").GetBoolean()));

        await OkAsync(host.Client.PutAsync("/api/v1/tags", MessagesApiTests.JsonContent($$"""{"IDs":["{{id}}"],"Tags":["signup"]}"""), Cancel));
        var tags = await LiveClients.NextFrameAsync(socket);
        Assert.Equal("update", tags.GetProperty("Type").GetString());
        Assert.Equal(["signup"], tags.GetProperty("Data").GetProperty("Tags").EnumerateArray().Select(t => t.GetString()));

        using (var sent = await host.Client.PostAsync("/api/v1/send", MessagesApiTests.JsonContent("""{"From":{"Email":"app@example.com"},"To":[{"Email":"user@example.com"}],"Subject":"Over HTTP","Text":"hi"}"""), Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        }

        var posted = await LiveClients.NextFrameAsync(socket);
        Assert.Equal(("new", "Over HTTP"), (posted.GetProperty("Type").GetString(), posted.GetProperty("Data").GetProperty("Subject").GetString()));

        using (var request = new HttpRequestMessage(HttpMethod.Delete, "/api/v1/messages") { Content = MessagesApiTests.JsonContent($$"""{"IDs":["{{id}}"]}""") })
        {
            await OkAsync(host.Client.SendAsync(request, Cancel));
        }

        var deleted = await LiveClients.NextFrameAsync(socket);
        Assert.Equal(("delete", id), (deleted.GetProperty("Type").GetString(), deleted.GetProperty("Data").GetProperty("ID").GetString()));

        await OkAsync(host.Client.DeleteAsync("/api/v1/messages", Cancel));
        var truncated = await LiveClients.NextFrameAsync(socket);
        Assert.Equal(("truncate", JsonValueKind.Null), (truncated.GetProperty("Type").GetString(), truncated.GetProperty("Data").ValueKind));
    }

    [Fact]
    public async Task TheStatsEventCountsTheMailboxFromTheStore()
    {
        await using var host = await CatcherHost.StartAsync();
        await host.SendSimpleAsync("One");
        await host.SendSimpleAsync("Two");
        using var socket = await ConnectAsync(host);
        // A client that connects is sent the counts (as Mailpit does).
        var stats = await LiveClients.NextFrameAsync(socket, skipStats: false);
        Assert.Equal("stats", stats.GetProperty("Type").GetString());
        Assert.Equal((2, 2), (stats.GetProperty("Data").GetProperty("Total").GetInt32(), stats.GetProperty("Data").GetProperty("Unread").GetInt32()));
    }

    [Fact]
    public async Task TheServerSentEventStreamCarriesTheSameEvents()
    {
        await using var host = await CatcherHost.StartAsync();
        using var response = await host.Client.GetAsync("/api/v1/events", HttpCompletionOption.ResponseHeadersRead, Cancel);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var reader = new LiveClients.SseReader(await response.Content.ReadAsStreamAsync(Cancel));
        var id = await host.SendSimpleAsync("Streamed");
        var stored = await reader.NextAsync();
        Assert.Equal("new", stored.Type);
        Assert.Equal(id, JsonDocument.Parse(stored.Data).RootElement.GetProperty("ID").GetString());
    }

    [Fact]
    public async Task TheWaitSearchesAsTheSearchRouteDoesAndAnswersForAMessageStoredWhileItWaits()
    {
        await using var host = await CatcherHost.StartAsync();
        await host.SendSimpleAsync("Unrelated");
        var waiting = host.Client.GetAsync("/api/v1/wait?query=" + Uri.EscapeDataString("Welcome Carol") + "&timeout=30s", Cancel);
        var id = await host.SendSimpleAsync("Welcome aboard", to: "carol@example.com");

        using var found = await waiting;
        Assert.Equal(HttpStatusCode.OK, found.StatusCode);
        var answer = JsonDocument.Parse(await found.Content.ReadAsStringAsync(Cancel)).RootElement;
        Assert.Equal([id], answer.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()));
        var search = await host.GetJsonAsync("/api/v1/search?query=" + Uri.EscapeDataString("Welcome Carol"));
        Assert.Equal([id], search.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()));

        // Stored before the call: answered from the store at once.
        using var again = await host.Client.GetAsync("/api/v1/wait?query=carol&timeout=0", Cancel);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        using var none = await host.Client.GetAsync("/api/v1/wait?query=nobody-at-all&timeout=0", Cancel);
        Assert.Equal(HttpStatusCode.RequestTimeout, none.StatusCode);
        Assert.Contains("\"nobody-at-all\"", await none.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MapSmtpdCatcherServesTheInboxAndMapSmtpdCatcherApiLeavesItOut()
    {
        await using (var whole = await CatcherHost.StartAsync())
        {
            using var page = await whole.Client.GetAsync("/", Cancel);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        }

        await using var apiOnly = await CatcherHost.StartAsync(map: app => app.MapSmtpdCatcherApi());
        using var noPage = await apiOnly.Client.GetAsync("/", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, noPage.StatusCode);
        using var socket = await ConnectAsync(apiOnly);
        Assert.Equal(WebSocketState.Open, socket.State);
        Assert.Equal(0, (await apiOnly.GetJsonAsync("/api/v1/messages")).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task UnderARouteGroupThePageRedirectsToItsSlashSoItsRelativeUrlsResolve()
    {
        await using var host = await CatcherHost.StartAsync(map: app => app.MapGroup("/mail").MapSmtpdCatcher());
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = host.Client.BaseAddress };
        using var bare = await client.GetAsync("/mail", Cancel);
        Assert.Equal(HttpStatusCode.Redirect, bare.StatusCode);
        Assert.Equal("/mail/", bare.Headers.Location?.OriginalString);
        using var page = await client.GetAsync("/mail/", Cancel);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    [Fact]
    public async Task WithUseCatcherSecurityAForeignPageCannotOpenTheEventSocket()
    {
        await using var host = await CatcherHost.StartAsync(map: app =>
        {
            app.UseCatcherSecurity(new CatcherHttpSecurityOptions());
            app.MapSmtpdCatcher();
        });
        var uri = new UriBuilder(new Uri(host.Client.BaseAddress!, "api/events")) { Scheme = "ws" }.Uri;
        using var foreign = new ClientWebSocket();
        foreign.Options.SetRequestHeader("Origin", "https://attacker.example");
        foreign.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => foreign.ConnectAsync(uri, Cancel));
        Assert.Equal(HttpStatusCode.Forbidden, foreign.HttpStatusCode);

        using var own = new ClientWebSocket();
        own.Options.SetRequestHeader("Origin", host.Client.BaseAddress!.GetLeftPart(UriPartial.Authority));
        await own.ConnectAsync(uri, Cancel);
        var id = await host.SendSimpleAsync("Seen by the inbox's own page");
        Assert.Equal(id, (await LiveClients.NextFrameAsync(own)).GetProperty("Data").GetProperty("ID").GetString());
    }

    [Fact]
    public async Task InfoReportsRealCountersWithMailpitsFieldNamesAndTypes()
    {
        await using var host = await CatcherHost.StartAsync(o => o.RejectRecipients.Add(new System.Text.RegularExpressions.Regex("^blocked@")));
        var first = await host.SendSimpleAsync("First");
        await host.SendSimpleAsync("Second", text: new string('x', 2000));
        await host.SendSimpleAsync("Third");
        await Assert.ThrowsAsync<MailKit.Net.Smtp.SmtpCommandException>(() => host.SendSimpleAsync("Refused", to: "blocked@example.com"));
        await OkAsync(host.Client.PutAsync("/api/v1/messages", MessagesApiTests.JsonContent($$"""{"IDs":["{{first}}"],"Read":true}"""), Cancel));
        await OkAsync(host.Client.PutAsync("/api/v1/tags", MessagesApiTests.JsonContent($$"""{"IDs":["{{first}}"],"Tags":["a"]}"""), Cancel));
        using (var request = new HttpRequestMessage(HttpMethod.Delete, "/api/v1/messages") { Content = MessagesApiTests.JsonContent($$"""{"IDs":["{{first}}"]}""") })
        {
            await OkAsync(host.Client.SendAsync(request, Cancel));
        }

        var info = await host.GetJsonAsync("/api/v1/info");
        Json.HasMembers(info, "Version", "LatestVersion", "Database", "DatabaseSize", "Messages", "Unread", "Tags", "RuntimeStats");
        Json.Kind(info, "Version", JsonValueKind.String);
        Json.Kind(info, "LatestVersion", JsonValueKind.String);
        Assert.Equal(host.DatabasePath, info.GetProperty("Database").GetString());
        Assert.True(info.GetProperty("DatabaseSize").GetInt64() > 0);
        Assert.Equal((2, 2), (info.GetProperty("Messages").GetInt64(), info.GetProperty("Unread").GetInt64()));
        Json.Kind(info, "Tags", JsonValueKind.Object);
        var stats = info.GetProperty("RuntimeStats");
        Json.HasMembers(stats, "Uptime", "Memory", "MessagesDeleted", "SMTPAccepted", "SMTPAcceptedSize", "SMTPRejected", "SMTPIgnored");
        foreach (var member in stats.EnumerateObject())
        {
            Assert.Equal(JsonValueKind.Number, member.Value.ValueKind);
            Assert.True(member.Value.GetInt64() >= 0, member.Name);
        }

        Assert.Equal(3, stats.GetProperty("SMTPAccepted").GetInt64());
        Assert.True(stats.GetProperty("SMTPAcceptedSize").GetInt64() > 2000);
        Assert.Equal(1, stats.GetProperty("SMTPRejected").GetInt64());
        Assert.Equal(0, stats.GetProperty("SMTPIgnored").GetInt64());
        Assert.Equal(1, stats.GetProperty("MessagesDeleted").GetInt64());
        Assert.True(stats.GetProperty("Memory").GetInt64() > 0);
    }

    [Fact]
    public async Task WebUiReportsTheSmtpListenersWithTheirRealPorts()
    {
        await using var host = await CatcherHost.StartAsync();
        var webui = await host.GetJsonAsync("/api/v1/webui");
        Json.HasMembers(webui, "Label", "MessageRelay", "SpamAssassin", "ChaosEnabled", "DuplicatesIgnored", "HideDeleteAllButton", "Smtpd");
        Json.HasMembers(webui.GetProperty("Smtpd"), "SmtpListeners", "SmtpsListeners");
        Assert.Equal([host.Catcher.Listeners[0].EndPoint.ToString()], webui.GetProperty("Smtpd").GetProperty("SmtpListeners").EnumerateArray().Select(l => l.GetString()));
        Assert.Empty(webui.GetProperty("Smtpd").GetProperty("SmtpsListeners").EnumerateArray());
    }

    [Fact]
    public async Task PartsFollowTheOneRuleForWhatABrowserMayShowInline()
    {
        await using var host = await CatcherHost.StartAsync();
        var message = new MimeKit.MimeMessage();
        message.From.Add(MimeKit.MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MimeKit.MailboxAddress.Parse("bob@example.com"));
        message.Subject = "Parts";
        var body = new MimeKit.BodyBuilder { TextBody = "see attached" };
        body.Attachments.Add("logo.png", [0x89, 0x50, 0x4E, 0x47], new MimeKit.ContentType("image", "png"));
        body.Attachments.Add("page.html", "<script>alert(1)</script>"u8.ToArray(), new MimeKit.ContentType("text", "html"));
        message.Body = body.ToMessageBody();
        var id = await host.SendAsync(message);
        var attachments = (await host.GetJsonAsync($"/api/v1/message/{id}?read=false")).GetProperty("Attachments");
        var png = attachments[0].GetProperty("PartID").GetString();
        var html = attachments[1].GetProperty("PartID").GetString();

        using (var image = await host.Client.GetAsync($"/api/v1/message/{id}/part/{png}", Cancel))
        {
            Assert.Equal("image/png", image.Content.Headers.ContentType?.MediaType);
            Assert.Equal("inline", image.Content.Headers.ContentDisposition?.DispositionType);
            Assert.Equal(CatcherContentSecurityPolicy.Part, image.Headers.GetValues("Content-Security-Policy").Single());
            Assert.Equal("nosniff", image.Headers.GetValues("X-Content-Type-Options").Single());
        }

        using (var download = await host.Client.GetAsync($"/api/v1/message/{id}/part/{png}?dl=1", Cancel))
        {
            Assert.Equal("attachment", download.Content.Headers.ContentDisposition?.DispositionType);
        }

        using var script = await host.Client.GetAsync($"/api/v1/message/{id}/part/{html}", Cancel);
        Assert.Equal("application/octet-stream", script.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment", script.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("page.html", script.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
    }

    private static async Task<ClientWebSocket> ConnectAsync(CatcherHost host)
    {
        var socket = new ClientWebSocket();
        var uri = new UriBuilder(new Uri(host.Client.BaseAddress!, "api/events")) { Scheme = "ws" }.Uri;
        await socket.ConnectAsync(uri, Cancel);
        return socket;
    }

    private static async Task OkAsync(Task<HttpResponseMessage> sending)
    {
        using var response = await sending;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task InfoCountsMessagesThatRetentionPrunedAsDeleted()
    {
        await using var host = await CatcherHost.StartAsync(o => o.Retain = 2);
        for (var i = 0; i < 3; i++)
        {
            await host.SendSimpleAsync($"m{i}");
        }

        // The prune is announced after its commit, off the writer's thread: wait for its event rather than a time.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        long deleted;
        while ((deleted = (await host.GetJsonAsync("/api/v1/info")).GetProperty("RuntimeStats").GetProperty("MessagesDeleted").GetInt64()) == 0
            && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        Assert.Equal(1, deleted);
        Assert.Equal(2, (await host.GetJsonAsync("/api/v1/info")).GetProperty("Messages").GetInt64());
    }
}
