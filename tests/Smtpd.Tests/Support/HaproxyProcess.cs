using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.Support;

/// <summary>
/// A real HAProxy in TCP mode on 127.0.0.1, started from a generated configuration in a temporary directory, in
/// front of one backend or several (round robin). Killed (with its whole process tree) and cleaned up on dispose.
/// Compiled into tests/Smtpd.Catcher.Tests too (a linked file), for the catcher instances behind one HAProxy.
/// </summary>
public sealed class HaproxyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly StringBuilder _output = new();

    private HaproxyProcess(Process process, string directory, IPEndPoint endPoint)
    {
        _process = process;
        _directory = directory;
        EndPoint = endPoint;
    }

    /// <summary>Where HAProxy listens: connect here to reach the backend through it.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The <c>haproxy</c> executable, or <see langword="null"/> when it is not installed.</summary>
    /// <remarks>Debian installs it in <c>/usr/sbin</c>, which is not on every user's PATH.</remarks>
    public static string? Executable { get; } =
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/usr/local/sbin"])
            .Select(directory => Path.Combine(directory, "haproxy"))
            .FirstOrDefault(File.Exists);

    /// <summary>
    /// Skips the calling test, with the reason, when HAProxy is not installed; in CI (<c>CI=true</c>), where
    /// .ci/setup-interop installs it, a missing HAProxy fails the test instead (docs/contributing.md).
    /// </summary>
    public static string RequireInstalled()
    {
        if (Executable is null)
        {
            if (Environment.GetEnvironmentVariable("CI") == "true")
            {
                Assert.Fail("haproxy is not installed, and in CI the HAProxy tests must run (.ci/setup-interop installs it)");
            }

            Assert.Skip("haproxy is not installed: no haproxy on PATH, /usr/sbin or /usr/local/sbin (install the Debian package haproxy, as .ci/setup-interop does)");
        }

        return Executable;
    }

    /// <summary>Starts HAProxy with a frontend on a free loopback port and one backend server line.</summary>
    /// <param name="backend">The server behind HAProxy.</param>
    /// <param name="serverOptions">What follows the address on the <c>server</c> line, such as <c>send-proxy-v2</c>.</param>
    public static Task<HaproxyProcess> StartAsync(IPEndPoint backend, string serverOptions) => StartAsync([backend], serverOptions);

    /// <summary>Starts HAProxy with a frontend on a free loopback port and the backends in round robin, one connection at a time each.</summary>
    /// <param name="backends">The servers behind HAProxy.</param>
    /// <param name="serverOptions">What follows the address on each <c>server</c> line, such as <c>send-proxy-v2</c>.</param>
    public static async Task<HaproxyProcess> StartAsync(IReadOnlyList<IPEndPoint> backends, string serverOptions)
    {
        var servers = string.Join("\n    ", backends.Select((backend, i) => string.Create(CultureInfo.InvariantCulture, $"server smtpd{i} {backend} {serverOptions}")));
        var executable = RequireInstalled();
        var endPoint = new IPEndPoint(IPAddress.Loopback, FreePort());
        var directory = Directory.CreateTempSubdirectory("smtpd-haproxy-").FullName;
        var config = Path.Combine(directory, "haproxy.cfg");
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $$"""
            global
                maxconn 100

            defaults
                mode tcp
                timeout connect 5s
                timeout client 30s
                timeout server 30s

            frontend smtp
                bind {{endPoint}}
                unique-id-format %{+X}o\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
                default_backend smtpd

            backend smtpd
                balance roundrobin
                {{servers}}

            """));

        // -db: stay in the foreground, so the test owns the process and killing it ends HAProxy.
        var process = new Process
        {
            StartInfo = new ProcessStartInfo(executable, ["-db", "-f", config])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = directory,
            },
        };
        var haproxy = new HaproxyProcess(process, directory, endPoint);
        process.OutputDataReceived += (_, e) => haproxy.Append(e.Data);
        process.ErrorDataReceived += (_, e) => haproxy.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await haproxy.WaitUntilListeningAsync();
        }
        catch
        {
            await haproxy.DisposeAsync();
            throw;
        }

        return haproxy;
    }

    /// <summary>What HAProxy printed, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(bounded.Token);
        }
        catch (InvalidOperationException)
        {
            // It never started.
        }
        finally
        {
            _process.Dispose();
            Directory.Delete(_directory, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    /// <summary>Waits until the frontend accepts connections (probing with a connect, which HAProxy relays and the backend closes).</summary>
    private async Task WaitUntilListeningAsync()
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"haproxy exited with {_process.ExitCode}: {Output}");
            }

            try
            {
                using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await probe.ConnectAsync(EndPoint);
                return;
            }
            catch (SocketException) when (clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(20);
            }
        }
    }
}
