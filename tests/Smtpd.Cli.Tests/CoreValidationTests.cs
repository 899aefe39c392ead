using Smtpd.Cli.Catcher;
using Smtpd.Cli.Configuration;

namespace Smtpd.Cli.Tests;

/// <summary>
/// The CLI copies none of the core's rules: limits are checked by the core's own options validation, CIDR blocks by
/// its NetworkParser and certificates by its CertificateLoader, and every refusal is reported against the flag.
/// </summary>
public sealed class CoreValidationTests
{
    [Theory]
    [InlineData("--max-rcpt", "0", "'0' must be from 1 to 100000")]
    [InlineData("--max-rcpt", "100001", "'100001' must be from 1 to 100000")]
    [InlineData("--max-connections", "1000001", "'1000001' must be from 1 to 1000000")]
    public void ALimitTheCoreRefusesIsReportedAgainstTheFlagInTheCoresWords(string flag, string text, string problem)
    {
        var value = int.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        var error = Assert.Throws<SettingException>(() => ValueParsers.CheckedByCore(value, text, Apply(flag), flag));

        Assert.Equal(flag, error.Setting);
        Assert.Equal(problem, error.Problem);
    }

    [Fact]
    public void ALimitTheCoreAcceptsIsReturnedAsItIs()
    {
        Assert.Equal(100_000, ValueParsers.CheckedByCore(100_000, "100000", Apply("--max-rcpt"), "--max-rcpt"));
        Assert.Equal(1, ValueParsers.CheckedByCore(1, "1", Apply("--max-connections"), "--max-connections"));
    }

    [Fact]
    public void ADurationOverTheCoresTimeoutRangeIsRefusedInTheCoresWords()
    {
        var error = Assert.Throws<SettingException>(() => ValueParsers.ParseDuration("25h", "--timeout"));

        Assert.Equal("--timeout: '25h' must be more than zero and at most one day", error.Message);
        Assert.Equal(TimeSpan.FromDays(1), ValueParsers.ParseDuration("24h", "--timeout"));
    }

    [Theory]
    [InlineData("10.0.0.1/8")]
    [InlineData("10.0.0/8")]
    [InlineData("10.0.0.0/33")]
    public void TheCidrBlocksTheCoreRefusesAreRefusedWithTheFlag(string text)
    {
        Assert.Equal("--reject-host", Assert.Throws<SettingException>(() => ValueParsers.ParseCidr(text, "--reject-host")).Setting);
    }

    [Fact]
    public void CertificateErrorsFromTheCoresLoaderNameTheFlagAtFault()
    {
        using var directory = new TestDirectory();
        var missing = Assert.Throws<SettingException>(() => Certificates.Load(directory.Combine("missing.pem"), keyPath: null));
        Assert.Equal("--tls-cert", missing.Setting);
        Assert.StartsWith("cannot read ", missing.Problem, StringComparison.Ordinal);

        // A PFX carries its own key: the core blames the key file, and the CLI names --tls-key.
        var pfx = directory.Combine("server.pfx");
        Certificates.LoadOrCreateSelfSigned(pfx).Dispose();
        var withKey = Assert.Throws<SettingException>(() => Certificates.Load(pfx, keyPath: directory.Combine("server.key")));
        Assert.Equal("--tls-key", withKey.Setting);

        using var loaded = Certificates.Load(pfx, keyPath: null);
        Assert.True(loaded.HasPrivateKey);
    }

    private static Action<SmtpServerOptions, int> Apply(string flag) => flag switch
    {
        "--max-rcpt" => static (o, n) => o.MaxRecipients = n,
        "--max-connections" => static (o, n) => o.MaxSessions = n,
        _ => throw new ArgumentOutOfRangeException(nameof(flag)),
    };
}
