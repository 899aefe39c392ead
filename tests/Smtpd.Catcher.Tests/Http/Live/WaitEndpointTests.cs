using System.Net;
using System.Text.Json;

namespace Smtpd.Catcher.Tests.Http.Live;

public sealed class WaitEndpointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AWaitAnswersAtOnceForAMessageStoredBeforeTheCall()
    {
        await using var host = await LiveHost.StartAsync();
        var id = await host.SendAsync("Your code is 123456");
        using var response = await host.Http.GetAsync("api/v1/wait?query=subject:code&timeout=30s", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        using var list = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var root = list.RootElement;
        Assert.Equal(["total", "unread", "messages_count", "messages_unread", "start", "tags", "messages"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, root.GetProperty("total").GetInt64());
        Assert.Equal(1, root.GetProperty("messages_count").GetInt64());
        Assert.Equal(id, Assert.Single(root.GetProperty("messages").EnumerateArray()).GetProperty("ID").GetString());
        Assert.Equal(0, host.Hub.WaitCount);
    }

    [Fact]
    public async Task AWaitAnswersWhenAMatchingMessageIsStoredAfterTheCallSignalledByItsEvent()
    {
        await using var host = await LiveHost.StartAsync();
        var listed = host.Query.NextListed;
        var waiting = host.Http.GetAsync("api/v1/wait?query=to:carol&timeout=30s", Ct);
        // The wait has subscribed and looked at the store (and found nothing) before anything is sent.
        await listed.WaitAsync(Ct);
        Assert.Equal(1, host.Hub.WaitCount);
        await host.SendAsync("For someone else");
        var id = await host.SendAsync("For Carol", to: "carol@example.com");

        using var response = await waiting;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var list = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(id, Assert.Single(list.RootElement.GetProperty("messages").EnumerateArray()).GetProperty("ID").GetString());
        // The store was looked at once, before the message came: the answer came from the hub's new event.
        Assert.Equal(1, host.Query.Lists);
    }

    [Fact]
    public async Task AWaitForTwoCountsOneStoredBeforeAndOneAfterNewestFirst()
    {
        await using var host = await LiveHost.StartAsync();
        var before = await host.SendAsync("Report 1");
        var listed = host.Query.NextListed;
        var waiting = host.Http.GetAsync("api/v1/wait?query=subject:report&count=2&timeout=30s", Ct);
        await listed.WaitAsync(Ct);
        var after = await host.SendAsync("Report 2");

        using var response = await waiting;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var list = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal([after, before], list.RootElement.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()));
        Assert.Equal(2, list.RootElement.GetProperty("messages_count").GetInt64());
    }

    [Fact]
    public async Task AMessageDeletedWhileWaitingNoLongerCounts()
    {
        await using var host = await LiveHost.StartAsync();
        var first = await host.SendAsync("Invoice 1");
        var listed = host.Query.NextListed;
        var waiting = host.Http.GetAsync("api/v1/wait?query=subject:invoice&count=2&timeout=30s", Ct);
        await listed.WaitAsync(Ct);
        host.Hub.PublishDeleted(first);
        var second = await host.SendAsync("Invoice 2");
        var third = await host.SendAsync("Invoice 3");

        using var response = await waiting;
        using var list = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal([third, second], list.RootElement.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()));
    }

    [Fact]
    public async Task AWaitThatTimesOutGets408WithOneLineQuotingTheQuery()
    {
        await using var host = await LiveHost.StartAsync();
        await host.SendAsync("Something else");
        using var response = await host.Http.GetAsync("api/v1/wait?query=" + Uri.EscapeDataString("subject:\"never sent\"") + "&count=2&timeout=200ms", Ct);
        Assert.Equal(HttpStatusCode.RequestTimeout, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("timed out after 200ms: 0 of 2 messages matching \"subject:\\\"never sent\\\"\" stored\n", await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(0, host.Hub.WaitCount);
    }

    [Fact]
    public async Task AWaitWithTimeoutZeroLooksAtTheStoreOnce()
    {
        await using var host = await LiveHost.StartAsync();
        using (var missing = await host.Http.GetAsync("api/v1/wait?timeout=0", Ct))
        {
            Assert.Equal(HttpStatusCode.RequestTimeout, missing.StatusCode);
            Assert.Equal("timed out after 0s: 0 of 1 message matching \"\" stored\n", await missing.Content.ReadAsStringAsync(Ct));
        }

        await host.SendAsync("Anything");
        using var found = await host.Http.GetAsync("api/v1/wait?timeout=0", Ct);
        Assert.Equal(HttpStatusCode.OK, found.StatusCode);
    }

    [Theory]
    [InlineData("count=0", "count must be a whole number from 1 to 1000, not \"0\"")]
    [InlineData("count=abc", "count must be a whole number from 1 to 1000, not \"abc\"")]
    [InlineData("count=1001", "count must be a whole number from 1 to 1000, not \"1001\"")]
    [InlineData("timeout=soon", "timeout must be a duration from 0 to 5m (such as 30s, 1500ms, 5m or plain seconds), not \"soon\"")]
    [InlineData("timeout=301s", "timeout must be a duration from 0 to 5m (such as 30s, 1500ms, 5m or plain seconds), not \"301s\"")]
    [InlineData("timeout=-1", "timeout must be a duration from 0 to 5m (such as 30s, 1500ms, 5m or plain seconds), not \"-1\"")]
    [InlineData("query=is:starred", "bad query \"is:starred\": bad search query: unknown is: value 'starred' (expected read, unread or tagged) at offset 3")]
    public async Task BadValuesGet400WithAOneLineReason(string parameters, string reason)
    {
        await using var host = await LiveHost.StartAsync();
        using var response = await host.Http.GetAsync("api/v1/wait?" + parameters, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith(reason, await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitsBeyondTheLimitGet503()
    {
        await using var host = await LiveHost.StartAsync(o => o.MaxWaits = 1);
        var listed = host.Query.NextListed;
        var first = host.Http.GetAsync("api/v1/wait?query=subject:later&timeout=30s", Ct);
        await listed.WaitAsync(Ct);
        using (var second = await host.Http.GetAsync("api/v1/wait?query=subject:later&timeout=30s", Ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        }

        await host.SendAsync("later");
        using var answered = await first;
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
    }
}
