using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Smtpd.TestSupport;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// A PostgreSQL cluster of one test's own, made by <c>.ci/setup-postgres</c> in a temporary directory on a free
/// loopback port, so the test can stop and start the real server without touching the shared one other tests (and
/// other test runs) use. Stopped and removed on dispose.
/// </summary>
internal sealed class PostgresCluster : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string _bin;

    private PostgresCluster(string directory, string bin, string connectionString, int port)
    {
        _directory = directory;
        _bin = bin;
        ConnectionString = connectionString;
        Port = port;
    }

    /// <summary>The cluster's superuser connection string (database <c>postgres</c>).</summary>
    public string ConnectionString { get; }

    public int Port { get; }

    /// <summary>Makes and starts the cluster; skips (outside CI) or fails (in CI) where PostgreSQL tests cannot run.</summary>
    public static async Task<PostgresCluster> StartAsync()
    {
        // The shared server's variable says this machine runs the PostgreSQL tests (StoreBackend's rule).
        await StoreBackend.CreateDatabaseAsync();
        var bin = Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "pg_ctl"))).Order(StringComparer.Ordinal).LastOrDefault()
            ?? throw new InvalidOperationException("SMTPD_TEST_POSTGRES is set, but there is no /usr/lib/postgresql/*/bin/pg_ctl to run a cluster of the test's own");
        var directory = Directory.CreateTempSubdirectory("smtpd-pg-cluster-").FullName;
        var port = FreePort();
        var (exit, output, error) = await RunAsync("bash", [Path.Combine(Repository.Root, ".ci", "setup-postgres")], new Dictionary<string, string> { ["SMTPD_PG_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture), ["SMTPD_PG_DIR"] = directory });
        var connectionString = output.Trim();
        if (exit != 0 || connectionString.Length == 0)
        {
            throw new InvalidOperationException($"setup-postgres made no cluster in {directory}: {error}");
        }

        return new PostgresCluster(directory, bin, connectionString, port);
    }

    /// <summary>Stops the server (<c>pg_ctl stop -m fast</c>: sessions are ended, open transactions roll back).</summary>
    public Task StopAsync() => PgCtlAsync("-m", "fast", "-w", "stop");

    /// <summary>Starts the stopped server again, with the options setup-postgres gave it.</summary>
    public Task StartAgainAsync() => PgCtlAsync("-l", Path.Combine(_directory, "server.log"), "-o", $"-c listen_addresses=127.0.0.1 -p {Port} -k {_directory}", "-w", "-t", "30", "start");

    public async ValueTask DisposeAsync()
    {
        await PgCtlAsync("-m", "immediate", "-w", "stop");
        Directory.Delete(_directory, recursive: true);
    }

    private async Task PgCtlAsync(params string[] args)
    {
        string[] command = [Path.Combine(_bin, "pg_ctl"), "-D", Path.Combine(_directory, "data"), .. args];
        // The server refuses to run as root; setup-postgres made the cluster as postgres in that case.
        var (exit, _, error) = Environment.UserName == "root"
            ? await RunAsync("runuser", ["-u", "postgres", "--", .. command])
            : await RunAsync(command[0], command[1..]);
        if (exit != 0 && !args.Contains("immediate"))
        {
            throw new InvalidOperationException($"pg_ctl {string.Join(' ', args)} exited with {exit}: {error}");
        }
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Path.GetTempPath() };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        // Read both to the end concurrently: pg_ctl start leaves the server holding no pipe (-l), so they end.
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await output, await error);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
