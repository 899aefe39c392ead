namespace Smtpd.Cli.Tests;

/// <summary>
/// RFC 5321 4.5.1: <c>postmaster</c>, in any case and with or without a domain, is accepted even when a recipient
/// policy would refuse it. Through the CLI, the library's postmaster option reaches the catcher by CatcherOptions.Smtp.
/// </summary>
public sealed class PostmasterTests
{
    [Fact]
    public async Task PostmasterIsAcceptedUnderAnAllowRecipientPolicyThatRefusesOthers()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--allow-recipient", @"@example\.com$");
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using (client)
        {
            Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
            Assert.StartsWith("250", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
            Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<sender@other.test>"), StringComparison.Ordinal);

            Assert.StartsWith("250 ", await client.CommandAsync("RCPT TO:<Postmaster>"), StringComparison.Ordinal);
            Assert.StartsWith("250 ", await client.CommandAsync("RCPT TO:<postmaster@other.test>"), StringComparison.Ordinal);
            Assert.StartsWith("550 5.7.1 ", await client.CommandAsync("RCPT TO:<bob@other.test>"), StringComparison.Ordinal);
            Assert.StartsWith("250 ", await client.CommandAsync("RCPT TO:<bob@example.com>"), StringComparison.Ordinal);
        }
    }
}
