using System.Net;
using System.Net.Sockets;

namespace Smtpd.Cli.Tests;

/// <summary>Bad values: one line on stderr naming the flag, and exit code 2.</summary>
public sealed class FlagErrorTests
{
    [Theory]
    [InlineData("--reject-host", "10.0.0.0/33", "--reject-host")]
    [InlineData("--reject-host", "not-a-network", "--reject-host")]
    [InlineData("--allow-sender", "([a-z]", "--allow-sender")]
    [InlineData("--reject-recipient", "*oops", "--reject-recipient")]
    [InlineData("--max-size", "12X", "--max-size")]
    [InlineData("--max-size", "0", "--max-size")]
    [InlineData("--max-recipients", "0", "--max-recipients")]
    [InlineData("--max-connections", "many", "--max-connections")]
    [InlineData("--timeout", "-5s", "--timeout")]
    [InlineData("--bare-line-endings", "fix", "--bare-line-endings")]
    [InlineData("--listen", "127.0.0.1", "--listen")]
    [InlineData("--listen", "127.0.0.1:70000", "--listen")]
    [InlineData("--retain", "-1", "--retain")]
    [InlineData("--retain-age", "30s", "--retain-age")]
    [InlineData("--retain-age", "soon", "--retain-age")]
    [InlineData("--retain-size", "-1", "--retain-size")]
    [InlineData("--retain-size", "2X", "--retain-size")]
    [InlineData("--auth", "nocolon", "--auth")]
    [InlineData("--require-auth", null, "--require-auth")]
    [InlineData("--require-tls", null, "--require-tls")]
    [InlineData("--tls-key", "key.pem", "--tls-key")]
    [InlineData("--tls-cert", "/nonexistent/cert.pem", "--tls-cert")]
    [InlineData("--no-such-flag", null, "--no-such-flag")]
    public async Task ABadValueGetsOneLineNamingTheFlagAndExitCode2(string flag, string? value, string named)
    {
        using var dir = new TestDirectory();
        string[] args = value is null ? [flag] : [flag, value];
        var result = await SmtpdCli.RunAsync(dir, [.. args, "--db", dir.Database], null);
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("smtpd: ", line, StringComparison.Ordinal);
        Assert.Contains(named, line, StringComparison.Ordinal);
        Assert.Empty(result.Stdout);
    }

    [Theory]
    [InlineData("postgres://user:secret@/db")]
    [InlineData("Host=;Database=mail")]
    [InlineData("Host=db;NoSuchKeyword=1")]
    public async Task ABadPostgresDatabaseGetsOneLineNamingTheDbFlagAndExitCode2(string value)
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "--db", value);
        Assert.True(result.ExitCode == 2, result.ToString());
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--db", line, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APortAlreadyInUseIsNamedWithItsFlag()
    {
        using var dir = new TestDirectory();
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var port = ((IPEndPoint)taken.LocalEndPoint!).Port;
        var result = await SmtpdCli.RunAsync(dir, "--listen", "127.0.0.1:0", "--listen", $"127.0.0.1:{port}", "--db", dir.Database);
        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--listen", line, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port}", line, StringComparison.Ordinal);
        Assert.Contains("in use", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACertificateFileThatIsNotACertificateIsRefused()
    {
        using var dir = new TestDirectory();
        await File.WriteAllTextAsync(dir.Combine("garbage.pem"), "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", TestContext.Current.CancellationToken);
        var result = await SmtpdCli.RunAsync(dir, "--tls-cert", dir.Combine("garbage.pem"), "--tls-key", dir.Combine("garbage.pem"), "--db", dir.Database);
        Assert.Equal(2, result.ExitCode);
        Assert.Matches("^smtpd: --tls-(cert|key): ", result.Stderr);
    }

    [Fact]
    public async Task ABadEnvironmentVariableIsNamedWithItsFlag()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, ["--db", dir.Database], new Dictionary<string, string> { ["SMTPD_REJECT_HOST"] = "10.0.0.0/8, 300.1.1.1" });
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("smtpd: SMTPD_REJECT_HOST (--reject-host): '300.1.1.1'", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABadCapLoopbackOrBareLineEndingsEnvironmentVariableIsNamedWithItsFlag()
    {
        using var dir = new TestDirectory();
        var capLoopback = await SmtpdCli.RunAsync(dir, ["--db", dir.Database], new Dictionary<string, string> { ["SMTPD_CAP_LOOPBACK"] = "perhaps" });
        Assert.Equal(2, capLoopback.ExitCode);
        Assert.Equal("smtpd: SMTPD_CAP_LOOPBACK (--cap-loopback): 'perhaps' is not true or false\n", capLoopback.Stderr);

        var bare = await SmtpdCli.RunAsync(dir, ["--db", dir.Database], new Dictionary<string, string> { ["SMTPD_BARE_LINE_ENDINGS"] = "fix" });
        Assert.Equal(2, bare.ExitCode);
        Assert.Equal("smtpd: SMTPD_BARE_LINE_ENDINGS (--bare-line-endings): 'fix' is not reject or normalize\n", bare.Stderr);
    }

    [Fact]
    public async Task ABadConfigFileLineIsNamedWithItsFileAndLine()
    {
        using var dir = new TestDirectory();
        var config = dir.Combine("bad.conf");
        await File.WriteAllTextAsync(config, "# ok\nlisten = 127.0.0.1:0\nmax-size = lots\n", TestContext.Current.CancellationToken);
        var result = await SmtpdCli.RunAsync(dir, "--config", config, "--db", dir.Database);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"smtpd: {config}:3 (--max-size): 'lots'", result.Stderr, StringComparison.Ordinal);

        await File.WriteAllTextAsync(config, "colour = yes\n", TestContext.Current.CancellationToken);
        result = await SmtpdCli.RunAsync(dir, "--config", config, "--db", dir.Database);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unknown setting 'colour'", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStoreCommandOnAMissingStoreSaysSoAndFails()
    {
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "list", "--db", dir.Combine("missing.db"));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no store at", result.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.Combine("missing.db")));
    }
}
