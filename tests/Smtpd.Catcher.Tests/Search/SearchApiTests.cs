using System.Globalization;
using System.Net;
using MimeKit;
using Smtpd.Catcher.Tests.Http;

namespace Smtpd.Catcher.Tests.Search;

/// <summary>
/// Three messages sent with MailKit to a catcher hosted on Kestrel, one marked read over the API and one tagged:
/// the fixture the search contract tests share (they only read).
/// </summary>
public sealed class SearchApiFixture : IAsyncLifetime
{
    internal CatcherHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Host = await CatcherHost.StartAsync();

        var order = new MimeMessage();
        order.From.Add(new MailboxAddress("Alice Example", "alice@shop.example"));
        order.To.Add(MailboxAddress.Parse("bob@example.com"));
        order.Cc.Add(MailboxAddress.Parse("carol@example.com"));
        order.Subject = "Your order shipped";
        order.MessageId = "order.1@shop.example";
        order.Headers.Add("X-Mailer", "PHPMailer 6.9");
        order.Body = new TextPart("plain") { Text = "Tracking number zebra123, thanks for your order." };
        // dave is a blind recipient: in the envelope only.
        await Host.SendAsync(order, ["bob@example.com", "carol@example.com", "dave@hidden.example"]);

        var digest = new MimeMessage();
        digest.From.Add(new MailboxAddress("Newsletter", "news@letters.example"));
        digest.To.Add(new MailboxAddress("Bob Smith", "bob@example.com"));
        digest.Subject = "Weekly digest";
        var body = new BodyBuilder { TextBody = "lorem ipsum dolor" };
        body.Attachments.Add("report.pdf", new byte[20_000], new ContentType("application", "pdf"));
        digest.Body = body.ToMessageBody();
        var digestId = await Host.SendAsync(digest);

        var invoice = new MimeMessage();
        invoice.From.Add(MailboxAddress.Parse("eve@billing.example"));
        invoice.To.Add(MailboxAddress.Parse("frank@example.com"));
        invoice.Subject = "Invoice 42";
        invoice.Headers.Add("X-Priority", "1");
        var html = new BodyBuilder();
        var logo = html.LinkedResources.Add("logo.png", new byte[] { 0x89, 0x50, 0x4E, 0x47 }, new ContentType("image", "png"));
        logo.ContentId = "logo@billing.example";
        html.HtmlBody = "<p>Please pay <img src=\"cid:logo@billing.example\"></p>";
        invoice.Body = html.ToMessageBody();
        var invoiceId = await Host.SendAsync(invoice);

        await SearchApiTests.PutAsync(Host, "/api/v1/messages", "{\"IDs\":[\"" + invoiceId + "\"],\"Read\":true}");
        await SearchApiTests.PutAsync(Host, "/api/v1/tags", "{\"IDs\":[\"" + digestId + "\"],\"Tags\":[\"Urgent\"]}");
    }

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Every element of the search syntax (docs/search.md) over HTTP, against messages sent by MailKit.</summary>
public sealed class SearchApiTests(SearchApiFixture fixture) : IClassFixture<SearchApiFixture>
{
    private const string Order = "Your order shipped";
    private const string Digest = "Weekly digest";
    private const string Invoice = "Invoice 42";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("from:alice", Order)]
    [InlineData("from:\"Alice Example\"", Order)]
    [InlineData("From:NEWS@letters", Digest)]
    [InlineData("to:\"Bob Smith\"", Digest)]
    [InlineData("to:bob@example.com", Digest, Order)]
    [InlineData("cc:carol", Order)]
    [InlineData("bcc:dave@hidden", Order)]
    [InlineData("bcc:bob@example.com")]
    [InlineData("subject:digest", Digest)]
    [InlineData("subject:\"order shipped\"", Order)]
    [InlineData("message-id:<order.1@shop.example>", Order)]
    [InlineData("tag:urgent", Digest)]
    [InlineData("is:read", Invoice)]
    [InlineData("is:unread", Digest, Order)]
    [InlineData("is:tagged", Digest)]
    [InlineData("has:attachment", Digest)]
    [InlineData("has:inline", Invoice)]
    [InlineData("larger:10K", Digest)]
    [InlineData("smaller:10K", Invoice, Order)]
    [InlineData("header:X-Mailer=phpmailer", Order)]
    [InlineData("header:X-Priority", Invoice)]
    [InlineData("header:X-Priority=2")]
    [InlineData("-from:alice", Invoice, Digest)]
    [InlineData("!is:read", Digest, Order)]
    [InlineData("-tag:urgent -is:read", Order)]
    [InlineData("\"order shipped\"", Order)]
    [InlineData("\"shipped order\"")]
    [InlineData("zebra123", Order)]
    [InlineData("lorem dolor", Digest)]
    [InlineData("please", Invoice)]
    [InlineData("-lorem", Invoice, Order)]
    [InlineData("example.com is:unread", Digest, Order)]
    public async Task SearchMatchesWhatTheSyntaxSays(string query, params string[] subjects)
    {
        var found = await fixture.Host.GetJsonAsync("/api/v1/search?query=" + Uri.EscapeDataString(query));
        Assert.Equal(subjects, Subjects(found));
        Assert.Equal(subjects.Length, found.GetProperty("messages_count").GetInt64());
    }

    [Fact]
    public async Task BeforeAndAfterReadWallClockTimesInTheRequestsZone()
    {
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        var halfHourAgoInBerlin = TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow.AddMinutes(-30), berlin).ToString("yyyy-MM-dd'T'HH:mm", CultureInfo.InvariantCulture);
        var all = new[] { Invoice, Digest, Order };
        Assert.Equal(all, Subjects(await Search($"after:{halfHourAgoInBerlin}", "Europe/Berlin")));
        Assert.Empty(Subjects(await Search($"before:{halfHourAgoInBerlin}", "Europe/Berlin")));
        // Read as UTC, the same wall-clock time is half an hour (or, in summer, 90 minutes) from now: nothing is after it.
        Assert.Empty(Subjects(await Search($"after:{halfHourAgoInBerlin}", null)));
        Assert.Equal(all, Subjects(await Search("after:2020-01-01 before:2999-12-31", null)));
    }

    [Fact]
    public async Task LatestHonoursTheQuery()
    {
        var latest = await fixture.Host.GetJsonAsync("/api/v1/message/latest?read=false&query=" + Uri.EscapeDataString("from:alice"));
        Assert.Equal(Order, latest.GetProperty("Subject").GetString());
        var none = await fixture.Host.Client.GetAsync("/api/v1/message/latest?query=" + Uri.EscapeDataString("from:nobody@nowhere"), Ct);
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
    }

    [Theory]
    [InlineData("subject:\"open", "bad search query: unterminated quote at offset 8")]
    [InlineData("is:starred", "bad search query: unknown is: value 'starred' (expected read, unread or tagged) at offset 3")]
    [InlineData("after:yesterday", "bad search query: bad date 'yesterday'")]
    [InlineData("larger:big", "bad search query: bad size 'big'")]
    public async Task ABadQueryGets400WithItsReasonOnOneLine(string query, string reason)
    {
        using var response = await fixture.Host.Client.GetAsync("/api/v1/search?query=" + Uri.EscapeDataString(query), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.StartsWith(reason, text, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', text.TrimEnd());
    }

    [Fact]
    public async Task PutMessagesWithASearchMarksOnlyTheMatches()
    {
        await using var host = await CatcherHost.StartAsync();
        await host.SendSimpleAsync("Keep unread", text: "nothing");
        await host.SendSimpleAsync("Mark me", text: "special words");
        await PutAsync(host, "/api/v1/messages", "{\"Search\":\"special\",\"Read\":true}");
        Assert.Equal(["Mark me"], Subjects(await host.GetJsonAsync("/api/v1/search?query=is:read")));
    }

    [Fact]
    public async Task DeleteSearchDeletesOnlyTheMatches()
    {
        await using var host = await CatcherHost.StartAsync();
        await host.SendSimpleAsync("Spam one", from: "spam@junk.example");
        await host.SendSimpleAsync("Ham", from: "friend@example.com");
        await host.SendSimpleAsync("Spam two", from: "spam@junk.example");
        using (var delete = await host.Client.DeleteAsync("/api/v1/search?query=" + Uri.EscapeDataString("from:junk.example"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, delete.StatusCode);
        }

        Assert.Equal(["Ham"], Subjects(await host.GetJsonAsync("/api/v1/messages")));
    }

    internal static async Task PutAsync(CatcherHost host, string path, string json)
    {
        using var response = await host.Client.PutAsync(path, MessagesApiTests.JsonContent(json), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private Task<System.Text.Json.JsonElement> Search(string query, string? timeZone) =>
        fixture.Host.GetJsonAsync("/api/v1/search?query=" + Uri.EscapeDataString(query) + (timeZone is null ? string.Empty : "&tz=" + Uri.EscapeDataString(timeZone)));

    private static string[] Subjects(System.Text.Json.JsonElement list) =>
        [.. list.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("Subject").GetString()!)];
}
