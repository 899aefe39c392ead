using System.Net;
using Microsoft.Extensions.Logging;

namespace Smtpd.Tests.Integration;

public sealed class LoggingTests
{
    [Fact]
    public async Task EverySessionEntryCarriesTheSessionIdAndTheTranscriptGoesToTrace()
    {
        using var logs = new CapturingLoggerProvider();
        string? sessionId = null;
        var options = new SmtpServerOptions
        {
            ServerName = "log.test",
            Deliver = (message, _) =>
            {
                sessionId = message.Session.Id;
                return ValueTask.FromResult(SmtpVerdict.Accept);
            },
        };
        await using (var server = new SmtpServer(options, logs))
        {
            server.Start(IPAddress.Loopback, 0);
            var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.Endpoints[0]);
            await using (client)
            {
                await client.CommandAsync("EHLO client.test");
                await client.CommandAsync("MAIL FROM:<a@b.example>");
                await client.CommandAsync("RCPT TO:<r@b.example>");
                await client.CommandAsync("DATA");
                await client.CommandAsync("hello\r\n.");
                await client.CommandAsync("QUIT");
                Assert.True(await client.IsClosedByServerAsync());
            }
        }

        Assert.NotNull(sessionId);
        var sessionEntries = logs.Entries.Where(e => e.Scope.ContainsKey("SessionId")).ToArray();
        Assert.All(sessionEntries, e => Assert.Equal(sessionId, e.Scope["SessionId"]));
        var transcript = sessionEntries.Where(e => e.Level == LogLevel.Trace).Select(e => e.Message).ToArray();
        Assert.Contains("C: MAIL FROM:<a@b.example>", transcript);
        Assert.Contains("S: 250 2.1.0 Sender OK", transcript);
        Assert.Contains(sessionEntries, e => e.Level == LogLevel.Information && e.Message.StartsWith("Message accepted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AFailingCallbackIsLoggedAsAnErrorWithItsException()
    {
        using var logs = new CapturingLoggerProvider();
        var options = new SmtpServerOptions { ValidateSender = (_, _, _) => throw new InvalidOperationException("database down") };
        await using var server = new SmtpServer(options, logs);
        server.Start(IPAddress.Loopback, 0);
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.Endpoints[0]);
        await using var _1 = client;
        await client.CommandAsync("EHLO client.test");
        Assert.Equal("451 4.3.0 Requested action aborted: local error in processing", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Error && e.Message.Contains("ValidateSender", StringComparison.Ordinal));
    }
}
