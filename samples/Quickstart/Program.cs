using System.Net;
using Microsoft.Extensions.Logging;
using Smtpd;

using var logging = LoggerFactory.Create(builder => builder.AddConsole());   // rejections are logged with their reason
var options = new SmtpServerOptions
{
    ValidateRecipient = (session, rcpt, ct) => ValueTask.FromResult(
        rcpt.Domain == "example.com" ? SmtpVerdict.Accept : SmtpVerdict.Reject("not our domain")),
    DeliverMime = (message, mime, ct) =>
    {
        Console.WriteLine($"{message.Envelope.SenderAddress} -> {string.Join(", ", message.Envelope.Recipients)}: {mime.Subject}");
        return ValueTask.FromResult(SmtpVerdict.Accept);
    },
};
await using var server = new SmtpServer(options, logging);
Console.CancelKeyPress += (_, e) => { e.Cancel = true; server.StopAsync(); };   // Ctrl-C: stop, then exit 0
server.Start(IPAddress.Loopback, 2525);
await server.Stopped;
