using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Smtpd.Cli.Tests.Support;

/// <summary>The result of one finished CLI process.</summary>
public sealed record CliResult(int ExitCode, byte[] Stdout, string Stderr)
{
    public string Output => Encoding.UTF8.GetString(Stdout);

    public override string ToString() => $"exit {ExitCode}\nstdout: {Output}\nstderr: {Stderr}";
}

/// <summary>Starts the real smtpd CLI (its build output) as a separate process.</summary>
public static class SmtpdCli
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The CLI's build output, found from this assembly's own output folder: tests/Smtpd.Cli.Tests/bin/CONFIG/TFM
    /// maps to src/Smtpd.Cli/bin/CONFIG/TFM. The project reference builds it first.
    /// </summary>
    public static string DllPath { get; } = Locate();

    /// <summary>The dotnet host that runs this test process, three folders above the shared runtime.</summary>
    public static string DotnetHost { get; } = LocateHost();

    public static ProcessStartInfo StartInfo(TestDirectory directory, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory.Path,
        };
        info.ArgumentList.Add(DllPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Each test is sealed off: no SMTPD_* from the machine, and the default store and config file live in
        // the test's own folder.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("SMTPD_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        // The HTTP API is on by default at 8025: tests running side by side each take a free port instead.
        info.Environment["SMTPD_HTTP"] = "127.0.0.1:0";
        info.Environment["XDG_DATA_HOME"] = directory.Combine("xdg-data");
        info.Environment["XDG_CONFIG_HOME"] = directory.Combine("xdg-config");
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        return info;
    }

    /// <summary>Runs a command to its end and collects its output.</summary>
    public static Task<CliResult> RunAsync(TestDirectory directory, params string[] args) => RunAsync(directory, args, null);

    public static async Task<CliResult> RunAsync(TestDirectory directory, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment, string? stdin = null)
    {
        using var process = Process.Start(StartInfo(directory, args, environment))!;
        var stdout = new MemoryStream();
        var copyOut = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var readErr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"smtpd {string.Join(' ', args)} did not finish in {CommandTimeout}.");
        }

        await copyOut;
        return new CliResult(process.ExitCode, stdout.ToArray(), await readErr);
    }

    /// <summary>
    /// Runs a store command inside this process, through the same entry point as the executable. Used where a test
    /// makes many queries against one store; the catcher itself always runs as a real process.
    /// </summary>
    public static async Task<CliResult> RunInProcessAsync(params string[] args)
    {
        using var stdout = new MemoryStream();
        using var stderr = new StringWriter();
        var code = await Smtpd.Cli.Program.RunAsync(args, stdout, stderr, _ => null, CancellationToken.None);
        return new CliResult(code, stdout.ToArray(), stderr.ToString());
    }

    /// <summary>Sends a POSIX signal to a process, as Ctrl-C (SIGINT) or a service manager (SIGTERM) would.</summary>
    public static void Signal(Process process, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {process.Id} failed");
        }
    }

    private static string Locate()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = output.Name;
        var configuration = output.Parent!.Name;
        var root = output;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Smtpd.slnx")))
        {
            root = root.Parent;
        }

        var path = Path.Combine(root?.FullName ?? throw new InvalidOperationException("Smtpd.slnx not found above " + output.FullName),
            "src", "Smtpd.Cli", "bin", configuration, framework, "Smtpd.Cli.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("The CLI is not built", path);
    }

    private static string LocateHost()
    {
        var runtime = RuntimeEnvironment.GetRuntimeDirectory();
        var root = Path.GetFullPath(Path.Combine(runtime, "..", "..", ".."));
        var host = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return File.Exists(host) ? host : "dotnet";
    }
}
