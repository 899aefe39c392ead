using System.Net;
using Smtpd;

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
await using var server = new SmtpServer(options);
server.Start(IPAddress.Loopback, 2525);
await server.Stopped;
