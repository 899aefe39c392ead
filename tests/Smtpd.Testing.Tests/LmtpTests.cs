using System.Net.Sockets;
using System.Text;

namespace Smtpd.Testing.Tests;

/// <summary>An LMTP test server (<see cref="SmtpTestServerOptions.UseLmtp"/>), driven over a raw socket.</summary>
public sealed class LmtpTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AnLmtpTestServerRecordsTheMessageAndAnswersEachRecipient()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseLmtp(), Ct);
        await using var client = await LmtpClient.ConnectAsync(smtp);

        Assert.StartsWith("250-smtp.test Hello client.test", await client.CommandAsync("LHLO client.test"), StringComparison.Ordinal);
        var replies = await client.SendMessageAsync("bob@example.com", "carol@example.com");

        Assert.Equal(["250 2.0.0 Message accepted", "250 2.0.0 Message accepted"], replies);
        var message = await smtp.WaitForMessageAsync(m => m.IsTo("carol@example.com"), cancellationToken: Ct);
        Assert.Equal(["bob@example.com", "carol@example.com"], message.To);
        Assert.Equal("LMTP", message.Subject);
    }

    [Fact]
    public async Task FaultsApplyToLhloAndToEveryRecipientAtTheEndOfTheMessage()
    {
        await using var smtp = await SmtpTestServer.StartAsync(o => o.UseLmtp(), Ct);
        smtp.Faults.Reject(SmtpFaultPoint.Ehlo, 421, "4.3.2", "Not now");
        await using (var refused = await LmtpClient.ConnectAsync(smtp))
        {
            Assert.Equal("421 Not now", await refused.CommandAsync("LHLO client.test"));
        }

        smtp.Faults.Reject(SmtpFaultPoint.Message, 452, "4.2.2", "Mailbox full");
        await using var client = await LmtpClient.ConnectAsync(smtp);
        Assert.StartsWith("250-", await client.CommandAsync("LHLO client.test"), StringComparison.Ordinal);

        Assert.Equal(["452 4.2.2 Mailbox full", "452 4.2.2 Mailbox full"], await client.SendMessageAsync("bob@example.com", "carol@example.com"));
        Assert.Empty(smtp.Messages);
    }

    [Fact]
    public async Task TheTestServerSpeaksSmtpUnlessToldOtherwise()
    {
        var options = new SmtpTestServerOptions();
        Assert.Equal(SmtpListenerProtocol.Smtp, options.Protocol);
        Assert.Same(options, options.UseLmtp());
        Assert.Equal(SmtpListenerProtocol.Lmtp, options.Protocol);

        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await using var client = await LmtpClient.ConnectAsync(smtp);
        Assert.Equal("500 Command unrecognized", await client.CommandAsync("LHLO client.test"));
    }

    /// <summary>A minimal LMTP client: lines out, whole replies in.</summary>
    private sealed class LmtpClient : IAsyncDisposable
    {
        private readonly TcpClient _tcp;
        private readonly NetworkStream _stream;
        private readonly StreamReader _reader;

        private LmtpClient(TcpClient tcp)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
            _reader = new StreamReader(_stream, Encoding.ASCII);
        }

        public static async Task<LmtpClient> ConnectAsync(SmtpTestServer smtp)
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync(smtp.EndPoint, Ct);
            var client = new LmtpClient(tcp);
            Assert.StartsWith("220 ", await client.ReadReplyAsync(), StringComparison.Ordinal);
            return client;
        }

        public async Task<string> CommandAsync(string line)
        {
            await _stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"), Ct);
            return await ReadReplyAsync();
        }

        /// <summary>Sends a message to the recipients and returns the replies after the final dot, one per recipient.</summary>
        public async Task<string[]> SendMessageAsync(params string[] recipients)
        {
            Assert.StartsWith("250 ", await CommandAsync("MAIL FROM:<alice@example.com>"), StringComparison.Ordinal);
            foreach (var recipient in recipients)
            {
                Assert.StartsWith("250 ", await CommandAsync($"RCPT TO:<{recipient}>"), StringComparison.Ordinal);
            }

            Assert.StartsWith("354 ", await CommandAsync("DATA"), StringComparison.Ordinal);
            await _stream.WriteAsync("Subject: LMTP\r\n\r\nhello\r\n.\r\n"u8.ToArray(), Ct);
            var replies = new string[recipients.Length];
            for (var i = 0; i < replies.Length; i++)
            {
                replies[i] = await ReadReplyAsync();
            }

            return replies;
        }

        private async Task<string> ReadReplyAsync()
        {
            var reply = new StringBuilder();
            while (await _reader.ReadLineAsync(Ct) is { } line)
            {
                reply.Append(reply.Length == 0 ? string.Empty : "\n").Append(line);
                if (line.Length < 4 || line[3] != '-')
                {
                    break;
                }
            }

            return reply.ToString();
        }

        public ValueTask DisposeAsync()
        {
            _reader.Dispose();
            _tcp.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
