using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MailKit.Security;
using MimeKit;

namespace Smtpd.Tests.Integration;

/// <summary>
/// Smtpd behind a real HAProxy (Debian's <c>haproxy</c>, started on loopback by the test) that speaks the PROXY
/// protocol to it: MailKit sends through HAProxy, and the callbacks must see the client as HAProxy saw it. Skipped,
/// with the reason, when HAProxy is not installed; <c>.ci/run</c> installs it so CI runs these.
/// </summary>
public sealed class HaproxyInteropTests
{
    [Theory]
    [InlineData("send-proxy-v2 proxy-v2-options crc32c,unique-id", 2)]
    [InlineData("send-proxy-v2", 2)]
    [InlineData("send-proxy", 1)]
    public async Task CallbacksBehindHaproxySeeTheClientAsHaproxySawIt(string serverOptions, int version)
    {
        HaproxyProcess.RequireInstalled();
        var atGreeting = new ConcurrentDictionary<string, IPEndPoint>();
        var listener = new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)) { ProxyProtocol = true, TrustedProxies = [IPNetwork.Parse("127.0.0.1/32")] };
        await using var server = TestServer.Start(
            o => o.ValidateHost = (session, _) =>
            {
                atGreeting[session.Id] = session.RemoteEndPoint;
                return ValueTask.FromResult(SmtpVerdict.Accept);
            },
            listener);
        await using var haproxy = await HaproxyProcess.StartAsync(server.EndPoint, serverOptions);

        // MailKit on a socket of our own, so the test knows the address and port HAProxy sees the client at.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(haproxy.EndPoint, TestContext.Current.CancellationToken);
        var client = (IPEndPoint)socket.LocalEndPoint!;
        using (var mailKit = new MailKit.Net.Smtp.SmtpClient())
        {
            await mailKit.ConnectAsync(socket, haproxy.EndPoint.Address.ToString(), haproxy.EndPoint.Port, SecureSocketOptions.None, TestContext.Current.CancellationToken);
            var message = new MimeMessage([MailboxAddress.Parse("alice@example.com")], [MailboxAddress.Parse("bob@example.com")], "Through HAProxy", new TextPart("plain") { Text = "Hello" });
            await mailKit.SendAsync(message, TestContext.Current.CancellationToken);
            await mailKit.DisconnectAsync(quit: true, TestContext.Current.CancellationToken);
        }

        var delivered = await server.WaitForMessageAsync();
        var session = delivered.Session;
        var context = $"HAProxy {haproxy.EndPoint}, client {client}, session {session}; haproxy said: {haproxy.Output}";
        Assert.True(atGreeting.TryGetValue(session.Id, out var validated), context);
        Assert.Equal(client, validated);
        Assert.Equal(client, session.RemoteEndPoint);
        Assert.Equal(haproxy.EndPoint, session.LocalEndPoint);

        // The socket's peer is HAProxy's own outgoing connection, not the client.
        var proxy = session.ProxyEndPoint!;
        Assert.Equal(IPAddress.Loopback, proxy.Address);
        Assert.NotEqual(client.Port, proxy.Port);
        Assert.Equal(version, session.ProxyHeader!.Version);
        if (serverOptions.Contains("unique-id", StringComparison.Ordinal))
        {
            // HAProxy checked our CRC-32C; the unique id is the frontend's format, which starts with the client in hex.
            Assert.True(session.ProxyHeader.TryGetTlv(SmtpProxyTlvType.Crc32C, out _), context);
            var uniqueId = Encoding.ASCII.GetString(session.ProxyHeader.UniqueId!.Value.Span);
            Assert.StartsWith($"7F000001:{client.Port:X4}_", uniqueId, StringComparison.Ordinal);
        }
    }
}
