using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Smtpd.Tests.Samples;

/// <summary>
/// samples/Quickstart, the README's "Receiving mail" example, run as its own process on its fixed port 2525: it
/// prints each accepted message, logs each rejection with its reason through the console logger, and exits 0 on
/// Ctrl-C (SIGINT).
/// </summary>
public sealed class QuickstartSampleTests
{
    private static readonly IPEndPoint SampleEndPoint = new(IPAddress.Loopback, 2525);

    [Fact]
    public async Task TheQuickstartPrintsMailLogsRejectionsAndExitsZeroOnCtrlC()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "SIGINT is sent with kill(1), which Windows does not have");
        var cancellationToken = TestContext.Current.CancellationToken;
        using var sample = Process.Start(new ProcessStartInfo(DotnetHost(), [SampleDll()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        var output = new Output(sample);
        try
        {
            await output.WaitForAsync($"SMTP server listening on {SampleEndPoint}");

            using (var client = new SmtpClient())
            {
                await client.ConnectAsync(SampleEndPoint.Address.ToString(), SampleEndPoint.Port, SecureSocketOptions.None, cancellationToken);
                var message = new MimeMessage { Subject = "Hello from the test" };
                message.From.Add(MailboxAddress.Parse("alice@example.org"));
                message.To.Add(MailboxAddress.Parse("bob@example.com"));
                message.Body = new TextPart("plain") { Text = "Hi Bob" };
                await client.SendAsync(message, cancellationToken);

                message.To.Clear();
                message.To.Add(MailboxAddress.Parse("eve@elsewhere.example"));
                var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(message, cancellationToken));
                Assert.Equal(SmtpErrorCode.RecipientNotAccepted, refused.ErrorCode);
                await client.DisconnectAsync(quit: true, cancellationToken);
            }

            await output.WaitForAsync("alice@example.org -> bob@example.com: Hello from the test");
            await output.WaitForAsync("The ValidateRecipient callback rejected: not our domain");

            Signal(sample, "INT");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await sample.WaitForExitAsync(timeout.Token);
            Assert.True(sample.ExitCode == 0, $"exit code {sample.ExitCode}, output:\n{output}");
            await output.WaitForAsync("SMTP server stopped listening");
        }
        finally
        {
            if (!sample.HasExited)
            {
                sample.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public void TheReadmeQuotesTheQuickstartWholeAndCountsItsLinesTruly()
    {
        var root = Repository.Root;
        var sample = File.ReadAllText(Path.Combine(root, "samples", "Quickstart", "Program.cs")).ReplaceLineEndings("\n");
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        var lines = sample.TrimEnd('\n').Split('\n').Length;

        Assert.Contains($"\n## Receiving mail in {lines} lines\n", readme, StringComparison.Ordinal);
        // One claim only: a stale heading left beside the true one would still make the claim false.
        Assert.Single(readme.Split('\n'), line => line.StartsWith("## Receiving mail in ", StringComparison.Ordinal));
        Assert.Contains($"\n```csharp\n{sample}```\n", readme, StringComparison.Ordinal);
    }

    /// <summary>The sample's build output, from this assembly's folder: tests/Smtpd.Tests/bin/CONFIG/TFM maps to samples/Quickstart/bin/CONFIG/TFM.</summary>
    private static string SampleDll()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var path = Path.Combine(Repository.Root, "samples", "Quickstart", "bin", output.Parent!.Name, output.Name, "Quickstart.dll");
        Assert.True(File.Exists(path), $"samples/Quickstart is not built: {path} (the test project's reference builds it)");
        return path;
    }

    private static string DotnetHost()
    {
        var host = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", "dotnet"));
        return File.Exists(host) ? host : "dotnet";
    }

    private static void Signal(Process process, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, process.Id.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>Everything the sample prints, on both streams, with a wait for a given text.</summary>
    private sealed class Output
    {
        private readonly StringBuilder _text = new();
        private readonly Process _process;

        public Output(Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) => Append(e.Data);
            process.ErrorDataReceived += (_, e) => Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public async Task WaitForAsync(string text)
        {
            await Eventually.WaitUntilAsync(() => Contains(text) || _process.HasExited, $"the sample printed \"{text}\"");
            if (!Contains(text))
            {
                _process.WaitForExit();   // after an exit, until both streams are read to their end
                Assert.True(Contains(text), $"The sample exited ({_process.ExitCode}) without printing \"{text}\" (a port 2525 in use stops it). Output:\n{this}");
            }
        }

        public override string ToString()
        {
            lock (_text)
            {
                return _text.ToString();
            }
        }

        private bool Contains(string text) => ToString().Contains(text, StringComparison.Ordinal);

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_text)
                {
                    _text.AppendLine(line);
                }
            }
        }
    }
}
