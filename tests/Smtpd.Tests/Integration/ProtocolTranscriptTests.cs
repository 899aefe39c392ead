namespace Smtpd.Tests.Integration;

/// <summary>Raw-socket transcripts of the core command set (RFC 5321 4.1 and 4.3.2).</summary>
public sealed class ProtocolTranscriptTests
{
    [Fact]
    public async Task GreetingIs220WithServerNameAndBanner()
    {
        await using var server = TestServer.Start(o => o.Banner = "ESMTP test banner");
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var _ = client;
        Assert.Equal("220 test.local ESMTP test banner", greeting);
    }

    [Fact]
    public async Task EhloAdvertisesEveryExtensionWithTheSizeLimit()
    {
        await using var server = TestServer.Start(o => o.MaxMessageSize = 12345);
        var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.EndPoint);
        await using var __ = client;
        var reply = await client.CommandAsync("EHLO client.test");
        Assert.Equal(
            "250-test.local Hello client.test\n250-SIZE 12345\n250-8BITMIME\n250-SMTPUTF8\n250-PIPELINING\n250-CHUNKING\n250-BINARYMIME\n250-ENHANCEDSTATUSCODES\n250 HELP",
            reply);
    }

    [Fact]
    public async Task AMessageSentWithDataIsDeliveredWithItsEnvelope()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<alice@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<bob@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<carol@example.org>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Message accepted", await client.CommandAsync("Subject: test\r\n\r\nHello\r\n."));
        Assert.Equal("221 2.0.0 Bye", await client.CommandAsync("QUIT"));
        Assert.True(await client.IsClosedByServerAsync());

        var message = Assert.Single(server.Messages);
        Assert.Equal("alice@example.com", message.Envelope.SenderAddress);
        Assert.Equal(["bob@example.com", "carol@example.org"], message.Envelope.Recipients.Select(r => r.Address));
        Assert.Equal("Subject: test\r\n\r\nHello\r\n", message.Text);
    }
}
