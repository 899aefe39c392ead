using System.Buffers;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Smtpd.Sessions;

namespace Smtpd.Tests.Protocol;

/// <summary>
/// "Deliver this" is an output of the protocol, like "start TLS now" and "close": the protocol stops at a finished
/// message and answers it only when its driver reports the delivery's verdict (docs/architecture.md).
/// </summary>
public sealed class DeliveryOutputTests
{
    private const string Transaction = "EHLO client.test\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<carol@example.com>\r\nDATA\r\nSubject: x\r\n\r\nhello\r\n.\r\n";

    [Fact]
    public async Task TheEndOfDataStopsTheProtocolWithDeliverAndNoReplyUntilTheVerdict()
    {
        var (protocol, output) = await StartAsync(lmtp: false);
        var input = Sequence(Transaction + "NOOP\r\n");

        var processed = await protocol.ProcessAsync(input);

        Assert.True(processed.Deliver);
        Assert.False(processed.Close);
        Assert.EndsWith("354 End data with <CR><LF>.<CR><LF>\r\n", Text(output), StringComparison.Ordinal);
        Assert.Equal("NOOP\r\n", Encoding.ASCII.GetString(input.Slice(processed.Consumed).ToArray()));
        var message = protocol.MessageToDeliver();
        Assert.Equal("alice@example.com", message.Envelope.SenderAddress);
        Assert.Equal(["bob@example.com", "carol@example.com"], message.Envelope.Recipients.Select(r => r.Address));
        using (var reader = new StreamReader(message.OpenRead(), Encoding.ASCII))
        {
            Assert.Equal("Subject: x\r\n\r\nhello\r\n", await reader.ReadToEndAsync(TestContext.Current.CancellationToken));
        }

        output.Clear();

        protocol.Delivered(SmtpVerdict.Reject(554, "5.7.1", "Not wanted"), recipientVerdicts: null);
        Assert.Equal("554 5.7.1 Not wanted\r\n", Text(output));
        output.Clear();

        // The rest of the input is fed again, and runs as commands.
        var rest = await protocol.ProcessAsync(input.Slice(processed.Consumed));
        Assert.False(rest.Deliver);
        Assert.Equal("250 2.0.0 OK\r\n", Text(output));
    }

    [Fact]
    public async Task AFailedDeliveryIsA451AndAnLmtpVerdictIsRepeatedForEveryRecipient()
    {
        var (protocol, output) = await StartAsync(lmtp: true);
        var processed = await protocol.ProcessAsync(Sequence(Transaction.Replace("EHLO", "LHLO", StringComparison.Ordinal)));
        Assert.True(processed.Deliver);
        output.Clear();

        protocol.Delivered(verdict: null, recipientVerdicts: [SmtpVerdict.Accept, null]);

        // A callback that failed fails every recipient, whatever it had set for them.
        var localError = Encoding.ASCII.GetString(SmtpReplies.LocalError.GetBytes(withEnhancedStatusCode: true));
        Assert.StartsWith("451 ", localError, StringComparison.Ordinal);
        Assert.Equal(localError + localError, Text(output));
    }

    [Fact]
    public async Task ContentThatFailsACheckIsAnsweredByTheProtocolWithoutADeliverOutput()
    {
        var (protocol, output) = await StartAsync(lmtp: false, o => o.MaxMessageSize = 10);
        output.Clear();

        var processed = await protocol.ProcessAsync(Sequence(Transaction));

        Assert.False(processed.Deliver);
        var sizeExceeded = Encoding.ASCII.GetString(SmtpReplies.SizeExceeded.GetBytes(withEnhancedStatusCode: true));
        Assert.StartsWith("552 ", sizeExceeded, StringComparison.Ordinal);
        Assert.EndsWith("354 End data with <CR><LF>.<CR><LF>\r\n" + sizeExceeded, Text(output), StringComparison.Ordinal);
    }

    private static async Task<(SmtpProtocol Protocol, ArrayBufferWriter<byte> Output)> StartAsync(bool lmtp, Action<SmtpServerOptions>? configure = null)
    {
        // The protocol never calls the delivery callback itself: its driver does (MessageDelivery.ProcessAsync).
        var options = new SmtpServerOptions
        {
            ServerName = "test.local",
            Deliver = (_, _) => throw new InvalidOperationException("The protocol called the delivery callback."),
        };
        configure?.Invoke(options);
        var output = new ArrayBufferWriter<byte>();
        var context = new SmtpSessionContext("delivery", new IPEndPoint(IPAddress.Loopback, 1025), new IPEndPoint(IPAddress.Loopback, 25)) { IsLmtp = lmtp };
        var protocol = new SmtpProtocol(options, NullLogger.Instance, context, lmtp, TimeProvider.System, new SmtpCallbackInvoker(NullLogger.Instance), output);
        await protocol.GreetAsync();
        return (protocol, output);
    }

    private static ReadOnlySequence<byte> Sequence(string text) => new(Encoding.ASCII.GetBytes(text));

    private static string Text(ArrayBufferWriter<byte> output) => Encoding.ASCII.GetString(output.WrittenSpan);
}
