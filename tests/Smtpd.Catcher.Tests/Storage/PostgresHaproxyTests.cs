using System.Net;
using System.Net.Sockets;
using MailKit.Security;
using MimeKit;
using Smtpd.Catcher.Tests.Http;
using Smtpd.Tests.Support;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// Two catcher instances on one PostgreSQL database behind a real HAProxy that balances SMTP between them and speaks
/// PROXY v2 to each (the deployment docs/scaling.md describes). Needs <c>haproxy</c> (.ci/setup-interop) and
/// <c>SMTPD_TEST_POSTGRES</c>; outside CI either missing skips, in CI it fails.
/// </summary>
public sealed class PostgresHaproxyTests
{
    private const int Messages = 20;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MessagesSentThroughHaproxyToTwoInstancesAppearExactlyOnceInBothApis()
    {
        HaproxyProcess.RequireInstalled();
        var database = await StoreBackend.CreateDatabaseAsync();
        await using var a = await StartAsync(database);
        await using var b = await StartAsync(database);
        await using var haproxy = await HaproxyProcess.StartAsync([a.Catcher.Listeners[0].EndPoint, b.Catcher.Listeners[0].EndPoint], "send-proxy-v2");

        var clients = new List<IPEndPoint>();
        for (var i = 0; i < Messages; i++)
        {
            // One connection per message, so round robin alternates the instances; the socket is ours, so the test
            // knows the address HAProxy saw the client at.
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(haproxy.EndPoint, Ct);
            clients.Add((IPEndPoint)socket.LocalEndPoint!);
            using var smtp = new MailKit.Net.Smtp.SmtpClient();
            await smtp.ConnectAsync(socket, haproxy.EndPoint.Address.ToString(), haproxy.EndPoint.Port, SecureSocketOptions.None, Ct);
            var message = new MimeMessage([MailboxAddress.Parse("alice@example.com")], [MailboxAddress.Parse("bob@example.com")], $"through haproxy {i}", new TextPart("plain") { Text = "Hello" });
            await smtp.SendAsync(message, Ct);
            await smtp.DisconnectAsync(quit: true, Ct);
        }

        var context = $"haproxy said: {haproxy.Output}";
        // Both instances took a share: the test is about two writers, not one behind a proxy.
        Assert.True(a.Catcher.AcceptedCount > 0, context);
        Assert.True(b.Catcher.AcceptedCount > 0, context);
        Assert.Equal(Messages, a.Catcher.AcceptedCount + b.Catcher.AcceptedCount);
        var expected = Enumerable.Range(0, Messages).Select(i => $"through haproxy {i}").Order(StringComparer.Ordinal).ToList();
        foreach (var host in new[] { a, b })
        {
            var list = await host.GetJsonAsync($"/api/v1/messages?limit={Messages * 2}");
            var messages = list.GetProperty("messages").EnumerateArray().ToList();
            Assert.Equal(Messages, list.GetProperty("total").GetInt32());
            Assert.Equal(expected, messages.Select(m => m.GetProperty("Subject").GetString()).Order(StringComparer.Ordinal));
            Assert.Equal(Messages, messages.Select(m => m.GetProperty("ID").GetString()).Distinct().Count());
        }

        // The store records each client as HAProxy saw it (PROXY v2), not HAProxy's own connection.
        using var reader = a.Catcher.Store!.Open();
        Assert.Equal(
            clients.Select(c => c.ToString()).Order(StringComparer.Ordinal),
            reader.List(new Smtpd.Catcher.Storage.MessageFilter()).Select(m => m.Client).Order(StringComparer.Ordinal));
    }

    private static Task<CatcherHost> StartAsync(string database) => CatcherHost.StartAsync(o =>
    {
        o.DatabasePath = null;
        o.DatabaseConnectionString = database;
        // Only HAProxy's PROXY v2 connections: the listener trusts loopback, where HAProxy runs.
        o.Listeners[0] = new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)) { ProxyProtocol = true, TrustedProxies = [IPNetwork.Parse("127.0.0.1/32")] };
    });
}
