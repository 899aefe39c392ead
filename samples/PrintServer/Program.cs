// The run command of the README: a server that prints every message it receives.
// Usage: dotnet run --project samples/PrintServer [-- [port] [address]]   (defaults: 2525 127.0.0.1)
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Smtpd;

var port = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 2525;
var address = args.Length > 1 ? IPAddress.Parse(args[1]) : IPAddress.Loopback;

using var loggerFactory = LoggerFactory.Create(logging => logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));

var options = new SmtpServerOptions
{
    Deliver = async (message, cancellationToken) =>
    {
        using var reader = new StreamReader(message.OpenRead());
        var text = await reader.ReadToEndAsync(cancellationToken);
        Console.WriteLine($"--- message from <{message.Envelope.SenderAddress}> to {string.Join(", ", message.Envelope.Recipients)} ({message.Size} octets, client {message.Session.RemoteEndPoint})");
        Console.WriteLine(text);
        return SmtpVerdict.Accept;
    },
};

await using var server = new SmtpServer(options, loggerFactory);
server.Start(address, port);
Console.WriteLine($"Smtpd listening on {string.Join(", ", server.Endpoints)}; press Ctrl+C to stop.");

Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    _ = server.StopAsync(TimeSpan.FromSeconds(5));
};

await server.Stopped;
