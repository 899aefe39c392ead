using System.Diagnostics;
using System.Globalization;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Smtpd.Tests.Integration;

/// <summary>
/// Real clients against an LMTP listener. MailKit (4.18.2, the pinned version) has no LMTP client, only
/// <c>SmtpClient</c>, which sends EHLO and HELO; swaks has an LMTP mode (<c>--protocol LMTP</c>) that sends LHLO and
/// reads one reply per accepted recipient after the end of data, so it checks the per-recipient outcome end to end.
/// </summary>
public sealed class LmtpClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SwaksInLmtpModeSeesOneOutcomePerAcceptedRecipient(bool pipeline)
    {
        await using var server = TestServer.StartLmtp(LmtpTests.RefuseNobodyAtRcptAndFullAtDelivery);

        string[] arguments =
        [
            "--protocol", "LMTP", "--helo", "client.test", "--from", "alice@example.com",
            "--to", "bob@example.com,full@example.com,nobody@example.com,carol@example.com",
            "--header", "Subject: swaks", "--body", "hello",
        ];
        var (exitCode, output) = await RunSwaksAsync(server.EndPoint.Port, pipeline ? [.. arguments, "--pipeline"] : arguments);

        // swaks marks a reply it did not expect with "<**"; it exits 0 when at least one recipient was accepted.
        Assert.True(exitCode == 0, output);
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Contains("<-  250-test.local Hello client.test", lines);
        Assert.Contains("<** 550 5.7.1 Recipient rejected", lines);
        var afterDot = lines.SkipWhile(l => l != " -> .").Skip(1).TakeWhile(l => !l.EndsWith("QUIT", StringComparison.Ordinal)).ToList();
        Assert.Equal(["<-  250 2.0.0 Message accepted", "<** 452 4.2.2 Mailbox full", "<-  250 2.0.0 Message accepted"], afterDot);

        var message = Assert.Single(server.Messages);
        Assert.Equal(["bob@example.com", "full@example.com", "carol@example.com"], message.Envelope.Recipients.Select(r => r.Address));
        Assert.Equal("swaks", MimeMessage.Load(new MemoryStream(message.Content), Ct).Subject);
    }

    [Fact]
    public async Task SwaksInLmtpModeIsStoppedAtLhloByAnSmtpListener()
    {
        await using var server = TestServer.StartLmtp();

        var (exitCode, output) = await RunSwaksAsync(server.SmtpEndPoint.Port, "--protocol", "LMTP", "--from", "alice@example.com", "--to", "bob@example.com");

        // swaks exit code 22: an error in the HELO (here LHLO) transaction.
        Assert.True(exitCode == 22, output);
        Assert.Contains("500 Command unrecognized", output, StringComparison.Ordinal);
        Assert.Empty(server.Messages);
    }

    [Fact]
    public async Task MailKitsSmtpClientIsStoppedAtTheGreetingByAnLmtpListener()
    {
        await using var server = TestServer.StartLmtp();
        using var client = new SmtpClient();

        // RFC 2033 4.1: an SMTP client that reaches an LMTP server by mistake fails before any transaction: MailKit
        // falls back from EHLO to HELO, and both are refused.
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => client.ConnectAsync("127.0.0.1", server.EndPoint.Port, SecureSocketOptions.None, Ct));

        Assert.Equal(SmtpStatusCode.CommandUnrecognized, error.StatusCode);
        Assert.Contains("use LHLO", error.Message, StringComparison.Ordinal);
        Assert.Empty(server.Messages);
    }

    /// <summary>Runs swaks against 127.0.0.1, or skips the test when it is not installed.</summary>
    private static async Task<(int ExitCode, string Output)> RunSwaksAsync(int port, params string[] arguments)
    {
        var swaks = FindOnPath("swaks");
        if (swaks is null)
        {
            Assert.Skip("swaks is not installed (apt-get install swaks, as .ci/setup-interop does); it is the LMTP client of these tests.");
        }

        var start = new ProcessStartInfo(swaks)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["--server", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--timeout", "20", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);
}
