using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Cli.Tests;

/// <summary>
/// The catcher exempts loopback from <c>--max-connections-per-ip</c> (a local load test comes from one address);
/// <c>--max-connections</c> still caps it, and <c>--cap-loopback</c> takes the exemption away.
/// </summary>
public sealed class LoopbackCapTests
{
    [Fact]
    public async Task ThreeHundredConcurrentLoopbackConnectionsAreAllGreeted()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);

        var greetings = await OpenAndGreetAsync(catcher.EndPoint, 300);

        // Six times the per-IP default of 50, all at once, and every one greeted.
        Assert.Equal(300, greetings.Count);
        Assert.All(greetings, g => Assert.StartsWith("220 ", g, StringComparison.Ordinal));
    }

    [Fact]
    public async Task MaxConnectionsStillCapsLoopbackClients()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--max-connections", "5");

        var greetings = await OpenAndGreetAsync(catcher.EndPoint, 6, sequential: true);

        Assert.All(greetings[..5], g => Assert.StartsWith("220 ", g, StringComparison.Ordinal));
        Assert.Equal("421 Too many connections, try again later", greetings[5]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task CapLoopbackHoldsLoopbackClientsToThePerIpCapFromTheFlagOrTheEnvironment(bool fromEnvironment)
    {
        using var dir = new TestDirectory();
        await using var catcher = fromEnvironment
            ? await CatcherProcess.StartAsync(dir, ["--max-connections-per-ip", "2"], new Dictionary<string, string> { ["SMTPD_CAP_LOOPBACK"] = "true" })
            : await CatcherProcess.StartAsync(dir, "--max-connections-per-ip", "2", "--cap-loopback");

        var greetings = await OpenAndGreetAsync(catcher.EndPoint, 3, sequential: true);

        Assert.All(greetings[..2], g => Assert.StartsWith("220 ", g, StringComparison.Ordinal));
        Assert.Equal("421 Too many connections from your address, try again later", greetings[2]);
    }

    /// <summary>
    /// Opens <paramref name="count"/> connections, keeping them all open until every greeting (or refusal) is read;
    /// sequentially where the order decides which one is refused.
    /// </summary>
    private static async Task<List<string>> OpenAndGreetAsync(IPEndPoint endpoint, int count, bool sequential = false)
    {
        var sockets = new List<Socket>();
        try
        {
            async Task<string> OneAsync()
            {
                var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                lock (sockets)
                {
                    sockets.Add(socket);
                }

                await socket.ConnectAsync(endpoint);
                return await ReadLineAsync(socket);
            }

            if (sequential)
            {
                var greetings = new List<string>();
                for (var i = 0; i < count; i++)
                {
                    greetings.Add(await OneAsync());
                }

                return greetings;
            }

            return [.. await Task.WhenAll(Enumerable.Range(0, count).Select(_ => OneAsync()))];
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    private static async Task<string> ReadLineAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new List<byte>();
        var buffer = new byte[512];
        while (!received.Contains((byte)'\n'))
        {
            var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            if (read == 0)
            {
                break;
            }

            received.AddRange(buffer.AsSpan(0, read));
        }

        return Encoding.ASCII.GetString(received.ToArray()).TrimEnd('\r', '\n');
    }
}
