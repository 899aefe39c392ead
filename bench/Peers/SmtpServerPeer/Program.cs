// cosullivan/SmtpServer 11.1.0 as a sink on 127.0.0.1:PORT.
using System.Buffers;
using System.Globalization;
using System.Net;
using SmtpServer;
using SmtpServer.Protocol;
using SmtpServer.Storage;

var port = int.Parse(args[0], CultureInfo.InvariantCulture);
var options = new SmtpServerOptionsBuilder()
    .ServerName("peer.local")
    .Endpoint(builder => builder.Endpoint(new IPEndPoint(IPAddress.Loopback, port)))
    .Build();
var services = new SmtpServer.ComponentModel.ServiceProvider();
services.Add(new SinkStore());
var server = new SmtpServer.SmtpServer(options, services);
Console.WriteLine($"listening 127.0.0.1:{port}");
await server.StartAsync(CancellationToken.None);

internal sealed class SinkStore : MessageStore
{
    public override Task<SmtpResponse> SaveAsync(ISessionContext context, IMessageTransaction transaction, ReadOnlySequence<byte> buffer, CancellationToken cancellationToken) =>
        Task.FromResult(SmtpResponse.Ok);
}
