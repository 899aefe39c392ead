using System.Net;
using System.Net.Sockets;

namespace Smtpd.Tests.Integration;

public sealed class DefaultPortTests
{
    [Fact]
    public async Task StartWithNoArgumentsBindsEveryInterfaceOnPort25()
    {
        await using var server = new SmtpServer();
        try
        {
            server.Start();
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AccessDenied or SocketError.AddressAlreadyInUse)
        {
            // Without root, or with a mail server already on the machine, port 25 cannot be had; the attempt
            // itself shows the port: nothing else could be refused this way on a free port 0 bind.
            Assert.False(server.IsRunning);
            return;
        }

        var endpoint = Assert.Single(server.Endpoints);
        Assert.Equal(SmtpServer.DefaultPort, endpoint.Port);
        Assert.True(endpoint.Address.Equals(IPAddress.IPv6Any) || endpoint.Address.Equals(IPAddress.Any));
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(new IPEndPoint(IPAddress.Loopback, SmtpServer.DefaultPort));
        await using var _ = client;
        Assert.StartsWith("220 ", greeting);
    }
}
