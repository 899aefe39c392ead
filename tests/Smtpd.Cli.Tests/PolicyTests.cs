using MailKit.Net.Smtp;

namespace Smtpd.Cli.Tests;

/// <summary>The policy and limit flags, each seen from a real client.</summary>
public sealed class PolicyTests
{
    [Fact]
    public async Task RejectHostRefusesAClientInsideTheCidrBlockWith550AccessDenied()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--reject-host", "10.0.0.0/8", "--reject-host", "127.0.0.0/24");
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var _ = client;
        Assert.Equal("550 Access denied", greeting);
        Assert.StartsWith("503", await client.CommandAsync("MAIL FROM:<a@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("221", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RejectHostLetsAClientOutsideEveryBlockIn()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--reject-host", "10.0.0.0/8", "--reject-host", "::1");
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var _ = client;
        Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SenderPatternsAcceptOnlyAllowedSendersAndRefuseRejectedOnes()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--allow-sender", "@example\\.com$", "--reject-sender", "^spam@");
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(from: "Alice@EXAMPLE.com"));
        Assert.Equal("Alice@EXAMPLE.com", (await catcher.NextMessageAsync()).GetProperty("from").GetString());

        var outside = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(catcher.EndPoint, Mail.Simple(from: "mallory@example.net")));
        Assert.Equal(SmtpErrorCode.SenderNotAccepted, outside.ErrorCode);
        Assert.Equal(550, (int)outside.StatusCode);
        var rejected = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(catcher.EndPoint, Mail.Simple(from: "spam@example.com")));
        Assert.Equal(SmtpErrorCode.SenderNotAccepted, rejected.ErrorCode);
        Assert.False(catcher.HasPendingEvent);
    }

    [Fact]
    public async Task RecipientPatternsAcceptOnlyAllowedRecipientsAndRefuseRejectedOnes()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--allow-recipient", "@(example\\.com|example\\.org)$", "--reject-recipient", "^root@");
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(to: "bob@example.org"));
        await catcher.NextMessageAsync();

        var outside = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(catcher.EndPoint, Mail.Simple(to: "bob@example.net")));
        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, outside.ErrorCode);
        Assert.Equal(550, (int)outside.StatusCode);
        var rejected = await Assert.ThrowsAsync<SmtpCommandException>(() => Mail.SendAsync(catcher.EndPoint, Mail.Simple(to: "root@example.com")));
        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, rejected.ErrorCode);
    }

    [Fact]
    public async Task MaxSizeMaxRecipientsAndHostnameReachTheProtocol()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--max-size", "2K", "--max-recipients", "2", "--hostname", "catcher.test");
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var _ = client;
        Assert.StartsWith("220 catcher.test ", greeting, StringComparison.Ordinal);
        var ehlo = await client.CommandAsync("EHLO me");
        Assert.Contains("SIZE 2048", ehlo, StringComparison.Ordinal);
        Assert.StartsWith("552", await client.CommandAsync("MAIL FROM:<a@example.com> SIZE=4096"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<1@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<2@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("452", await client.CommandAsync("RCPT TO:<3@example.com>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MaxConnectionsPerIpRefusesTheConnectionOverTheLimit()
    {
        using var dir = new TestDirectory();
        // The test connects from loopback, which the catcher exempts unless --cap-loopback is given.
        await using var catcher = await CatcherProcess.StartAsync(dir, "--max-connections-per-ip", "1", "--cap-loopback", "--timeout", "30s");
        var (first, greeting) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var _ = first;
        Assert.StartsWith("220", greeting, StringComparison.Ordinal);
        var (second, refused) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var __ = second;
        Assert.StartsWith("421", refused, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MaxConnectionsRefusesTheConnectionOverTheLimitAndTimeoutClosesAnIdleClient()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--max-connections", "1", "--timeout", "1s");
        var (idle, greeting) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var _ = idle;
        Assert.StartsWith("220", greeting, StringComparison.Ordinal);
        var (second, refused) = await RawSmtpClient.ConnectAndGreetAsync(catcher.EndPoint);
        await using var __ = second;
        Assert.StartsWith("421", refused, StringComparison.Ordinal);

        var started = System.Diagnostics.Stopwatch.StartNew();
        var timedOut = await idle.ReadReplyAsync();
        Assert.StartsWith("421 ", timedOut, StringComparison.Ordinal);
        Assert.Contains("Timeout", timedOut, StringComparison.Ordinal);
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task RequireAuthRefusesMailBeforeAuthAndTheRightPasswordGetsThrough()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--auth", "app:s3cret:with:colons", "--auth", "other:pw", "--require-auth");

        // MailKit turns the 530 into ServiceNotAuthenticatedException, carrying the reply text.
        var anonymous = await Assert.ThrowsAsync<MailKit.ServiceNotAuthenticatedException>(() => Mail.SendAsync(catcher.EndPoint, Mail.Simple()));
        Assert.Contains("5.7.0 Authentication required", anonymous.Message, StringComparison.Ordinal);
        var wrong = await Assert.ThrowsAsync<MailKit.Security.AuthenticationException>(() => Mail.SendAsync(catcher.EndPoint, Mail.Simple(), credentials: ("app", "nope")));
        Assert.NotNull(wrong);

        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(), credentials: ("app", "s3cret:with:colons"));
        var e = await catcher.NextMessageAsync();
        Assert.Equal("app", e.GetProperty("user").GetString());
    }

    [Fact]
    public async Task AuthAnyAcceptsWhateverCredentialsOverPlaintext()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--auth-any");
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(), credentials: ("whoever", "whatever"));
        Assert.Equal("whoever", (await catcher.NextMessageAsync()).GetProperty("user").GetString());
    }

    [Fact]
    public async Task VerbosePrintsTheTranscriptOnStderrWithoutThePassword()
    {
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, "--auth", "user:Pa55word-xyz", "--verbose");
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple(), credentials: ("user", "Pa55word-xyz"));
        await catcher.NextMessageAsync();
        Assert.Equal(0, await catcher.StopAsync());
        var stderr = catcher.Stderr;
        Assert.Contains("C: EHLO", stderr, StringComparison.Ordinal);
        Assert.Contains("C: AUTH", stderr, StringComparison.Ordinal);
        Assert.Contains("S: 235", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Pa55word-xyz", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String("\0user\0Pa55word-xyz"u8), stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String("Pa55word-xyz"u8), stderr, StringComparison.Ordinal);
    }
}
