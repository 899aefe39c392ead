using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Smtpd.ApiBench;

/// <summary>
/// A mail catcher running as its own process (the Smtpd CLI or smtp4dev), with its SMTP and HTTP endpoints and its
/// memory as Linux reports it. A separate process, so the RSS read from /proc is the server's alone and not the
/// bench's HTTP client buffers.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(string name, Process process, Uri http, IPEndPoint smtp)
    {
        Name = name;
        _process = process;
        Http = http;
        Smtp = smtp;
    }

    public string Name { get; }

    /// <summary>The HTTP root, ending in a slash.</summary>
    public Uri Http { get; }

    public IPEndPoint Smtp { get; }

    public int Id => _process.Id;

    /// <summary>Resident set size now (VmRSS), in KiB.</summary>
    public long RssKiB => Status("VmRSS:");

    /// <summary>The peak resident set size (VmHWM) since start or since <see cref="ResetPeak"/>, in KiB.</summary>
    public long PeakKiB => Status("VmHWM:");

    /// <summary>Starts the Smtpd CLI catcher on port 0 for SMTP and HTTP, reading the ports from its JSON listening events.</summary>
    /// <param name="db">The store file; kept after the run.</param>
    /// <param name="cli">Smtpd.Cli.dll to run: this checkout's build when <see langword="null"/>, or an older build's copy to compare with.</param>
    /// <param name="extra">More flags.</param>
    public static async Task<ServerProcess> StartSmtpdAsync(string db, string? cli = null, params string[] extra)
    {
        cli ??= Path.Combine(RepoRoot(), "src", "Smtpd.Cli", "bin", Configuration, "net10.0", "Smtpd.Cli.dll");
        if (!File.Exists(cli))
        {
            throw new FileNotFoundException($"build the CLI first (dotnet build -c {Configuration} src/Smtpd.Cli)", cli);
        }

        // --retain 0: the CLI's default keeps 10,000 messages and would prune a large store on open.
        string[] arguments = [cli, "--json", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--db", db, "--retain", "0", "--max-size", "64M", .. extra];
        var process = Start("dotnet", arguments);
        Uri? http = null;
        IPEndPoint? smtp = null;
        using var startup = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        while ((http is null || smtp is null) && await process.StandardOutput.ReadLineAsync(startup.Token) is { } line)
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            if (root.GetProperty("event").GetString() != "listening")
            {
                continue;
            }

            var endpoint = IPEndPoint.Parse(root.GetProperty("endpoint").GetString()!);
            if (root.TryGetProperty("http", out var isHttp) && isHttp.GetBoolean())
            {
                http = new Uri($"http://{endpoint}/");
            }
            else if (!root.TryGetProperty("pop3", out _))
            {
                smtp = endpoint;
            }
        }

        if (http is null || smtp is null)
        {
            throw new InvalidOperationException($"the catcher exited before listening: {await process.StandardError.ReadToEndAsync(startup.Token)}");
        }

        // One message event per stored message follows: drained, or the catcher would block on a full pipe.
        _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
        _ = process.StandardError.BaseStream.CopyToAsync(Stream.Null);
        return new ServerProcess("smtpd", process, http, smtp);
    }

    /// <summary>Starts smtp4dev (installed as a dotnet tool) with an in-memory database and no IMAP or POP3.</summary>
    /// <param name="tool">The smtp4dev executable.</param>
    /// <param name="keep">Messages to keep (its default, 100, would drop the stored set).</param>
    public static async Task<ServerProcess> StartSmtp4devAsync(string tool, int keep)
    {
        // smtp4dev does not report port 0's choice in a machine-readable way: take two free ports and hand them over.
        var smtpPort = FreePort();
        var httpPort = FreePort();
        var data = Directory.CreateTempSubdirectory("api-bench-smtp4dev-").FullName;
        var process = Start(tool, [
            $"--smtpport={smtpPort}", $"--urls=http://127.0.0.1:{httpPort}", "--db=", "--hostname=127.0.0.1",
            "--imapport=", "--pop3port=", $"--messagestokeep={keep}", "--sessionstokeep=10", "--nousersettings",
            $"--baseappdatapath={data}", "--bindaddress=127.0.0.1",
        ]);
        _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
        var server = new ServerProcess("smtp4dev", process, new Uri($"http://127.0.0.1:{httpPort}/"), new IPEndPoint(IPAddress.Loopback, smtpPort));
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"smtp4dev exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync()}");
            }

            try
            {
                using var response = await client.GetAsync(new Uri(server.Http, "api/messages"));
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(server.Smtp);
                if (response.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or SocketException or TaskCanceledException)
            {
                // Not up yet.
            }

            if (deadline.Elapsed > TimeSpan.FromMinutes(3))
            {
                throw new TimeoutException("smtp4dev did not start within 3 minutes");
            }

            await Task.Delay(250);
        }
    }

    /// <summary>Resets VmHWM to the current RSS (proc(5), clear_refs "5"), so the next peak is this phase's own.</summary>
    public void ResetPeak() => File.WriteAllText($"/proc/{_process.Id}/clear_refs", "5");

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    /// <summary>The one-minute load average, printed with every result: the machine is shared.</summary>
    public static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ')[..3] is var l ? string.Join(' ', l) : string.Empty;

    private static string Configuration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";

    private long Status(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(field.Length).Trim().TrimEnd(" kB"), CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }

    private static Process Start(string file, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string RepoRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Smtpd.slnx")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException("Smtpd.slnx not found above " + AppContext.BaseDirectory);
    }
}
