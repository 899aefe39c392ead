using System.Net;
using System.Net.Sockets;
using MailKit.Security;
using Microsoft.Extensions.Configuration;

namespace Smtpd.Samples.PostgresDelivery.Tests.Support;

/// <summary>The sample's host, built as its Program.cs builds it, listening on 127.0.0.1 on a free port.</summary>
public sealed class MailHost : IAsyncDisposable
{
    private MailHost(IHost host) => Host = host;

    public IHost Host { get; }

    public IPEndPoint EndPoint => Host.Services.GetRequiredService<SmtpServer>().Endpoints[0];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static MailHost Build(string? connectionString, IDictionary<string, string?>? settings = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var values = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Mail"] = connectionString,
            ["Smtpd:Endpoints:0:Address"] = "127.0.0.1",
            ["Smtpd:Endpoints:0:Port"] = "0",
            ["Smtpd:ServerName"] = "mx.test",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(values);
        builder.AddPostgresDelivery();
        return new MailHost(builder.Build());
    }

    public static async Task<MailHost> StartAsync(string connectionString)
    {
        var host = Build(connectionString);
        await host.Host.StartAsync(Ct);
        return host;
    }

    /// <summary>Connects MailKit from <paramref name="clientAddress"/> (127.0.0.1 when null), so the client is told apart from the server.</summary>
    public async Task<(SmtpClient Client, IPEndPoint From)> ConnectAsync(string clientAddress = "127.0.0.1")
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(clientAddress), 0));
        await socket.ConnectAsync(EndPoint, Ct);
        var client = new SmtpClient { Timeout = 30_000, LocalDomain = "client.test" };
        await client.ConnectAsync(socket, EndPoint.Address.ToString(), EndPoint.Port, SecureSocketOptions.None, Ct);
        return (client, (IPEndPoint)socket.LocalEndPoint!);
    }

    public async Task SendAsync(MimeMessage message)
    {
        var (client, _) = await ConnectAsync();
        using (client)
        {
            await client.SendAsync(message, Ct);
            await client.DisconnectAsync(true, Ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.IsCancellationRequested)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await Host.StopAsync(stop.Token);
        }

        if (Host is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
        else
        {
            Host.Dispose();
        }
    }
}
