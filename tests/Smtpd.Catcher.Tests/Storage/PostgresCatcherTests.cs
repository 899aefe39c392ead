using System.Net;
using MailKit.Net.Smtp;
using Smtpd.Catcher.Tests.Http;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The catcher on PostgreSQL end to end: MailKit over SMTP, HttpClient over the API, a real server
/// (<c>SMTPD_TEST_POSTGRES</c>; skipped without it outside CI).
/// </summary>
public sealed class PostgresCatcherTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<CatcherHost> StartAsync(string connectionString) => CatcherHost.StartAsync(o =>
    {
        o.DatabasePath = null;
        o.DatabaseConnectionString = connectionString;
    });

    [Fact]
    public async Task AMessageSentWithMailKitIsListedByTheApi()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var host = await StartAsync(database);

        var id = await host.SendSimpleAsync("On PostgreSQL", text: "stored in bytea chunks");

        var list = await host.GetJsonAsync("/api/v1/messages");
        var message = Assert.Single(list.GetProperty("messages").EnumerateArray());
        Assert.Equal(id, message.GetProperty("ID").GetString());
        Assert.Equal("On PostgreSQL", message.GetProperty("Subject").GetString());
        var search = await host.GetJsonAsync("/api/v1/search?query=chunks");
        Assert.Equal(1, search.GetProperty("messages_count").GetInt32());
        var raw = await host.Client.GetStringAsync($"/api/v1/message/{id}/raw", Ct);
        Assert.Contains("stored in bytea chunks", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WhileTheDatabaseIsDownSmtpAnswers451AndTheApi503AndBothRecoverWithoutARestart()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var host = await StartAsync(database);
        await host.SendSimpleAsync("before");

        await StoreBackend.SetAvailableAsync(database, available: false);
        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => host.SendSimpleAsync("during"));
        Assert.Equal(451, (int)refused.StatusCode);
        using (var response = await host.Client.GetAsync("/api/v1/messages", Ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("PostgreSQL", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        await StoreBackend.SetAvailableAsync(database, available: true);
        await host.SendSimpleAsync("after");
        var list = await host.GetJsonAsync("/api/v1/messages");
        Assert.Equal(["after", "before"], list.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("Subject").GetString()));
    }

    [Fact]
    public async Task AMessageStoredByOneInstanceEndsAnotherInstancesWait()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var a = await StartAsync(database);
        await using var b = await StartAsync(database);

        // B waits first: the store has nothing yet, so only A's NOTIFY can end the wait.
        var wait = b.Client.GetAsync("/api/v1/wait?query=subject:relayed&timeout=20s", Ct);
        var id = await a.SendSimpleAsync("relayed through A");

        using var response = await wait;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains($"\"ID\":\"{id}\"", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        // Tags and read state are shared too: B sees what A's API changed.
        using var put = await a.Client.PutAsync("/api/v1/tags", JsonContent($$"""{"IDs":["{{id}}"],"Tags":["shared"]}"""), Ct);
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var seen = await b.GetJsonAsync("/api/v1/search?query=tag:shared");
        Assert.Equal(1, seen.GetProperty("messages_count").GetInt32());
    }

    private static StringContent JsonContent(string json) => new(json, System.Text.Encoding.UTF8, "application/json");
}
