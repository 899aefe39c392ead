using System.Net;
using Smtpd.Cli.Configuration;

namespace Smtpd.Cli.Tests;

/// <summary>The flag value parsers, in process: every accepted form and the errors that name the flag.</summary>
public sealed class ValueParserTests
{
    [Theory]
    [InlineData("7d", 7 * 24 * 60)]
    [InlineData("12h", 12 * 60)]
    [InlineData("1m", 1)]
    [InlineData("90m", 90)]
    public void RetainAgeTakesADurationOfAtLeastAMinute(string text, int minutes) =>
        Assert.Equal(TimeSpan.FromMinutes(minutes), ValueParsers.ParseRetainAge(text, "--retain-age"));

    [Fact]
    public void RetainAge0KeepsAnyAgeAsWithoutTheFlag() => Assert.Null(ValueParsers.ParseRetainAge("0", "--retain-age"));

    [Theory]
    [InlineData("59s")]
    [InlineData("-1d")]
    [InlineData("week")]
    [InlineData("")]
    public void BadRetainAgesAreRefusedNamingTheFlag(string text)
    {
        var ex = Assert.Throws<SettingException>(() => ValueParsers.ParseRetainAge(text, "--retain-age"));
        Assert.StartsWith("--retain-age: ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("2G", 2L << 30)]
    [InlineData("500M", 500L << 20)]
    public void RetainSizeTakesASizeOr0ForNoLimit(string text, long expected) =>
        Assert.Equal(expected, ValueParsers.ParseRetainSize(text, "--retain-size"));

    [Theory]
    [InlineData("1", 1L)]
    [InlineData("512", 512L)]
    [InlineData("10K", 10L * 1024)]
    [InlineData("10kb", 10L * 1024)]
    [InlineData("35M", 35L * 1024 * 1024)]
    [InlineData("35MiB", 35L * 1024 * 1024)]
    [InlineData("2G", 2L * 1024 * 1024 * 1024)]
    public void SizesTakeKMAndGSuffixesAsPowersOf1024(string text, long expected) =>
        Assert.Equal(expected, ValueParsers.ParseSize(text, "--max-size"));

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("1.5M")]
    [InlineData("10X")]
    [InlineData("99999999999999999999G")]
    [InlineData("9999999999G")]
    public void BadSizesAreRefusedNamingTheFlag(string text)
    {
        var ex = Assert.Throws<SettingException>(() => ValueParsers.ParseSize(text, "--max-size"));
        Assert.Equal("--max-size", ex.Setting);
    }

    [Theory]
    [InlineData("30", 30.0)]
    [InlineData("30s", 30.0)]
    [InlineData("5m", 300.0)]
    [InlineData("1h", 3600.0)]
    [InlineData("250ms", 0.25)]
    public void DurationsAreSecondsOrCarryAUnit(string text, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), ValueParsers.ParseDuration(text, "--timeout"));

    [Theory]
    [InlineData("0")]
    [InlineData("2d")]
    [InlineData("25h")]
    [InlineData("soon")]
    public void DurationsOutsideTheCoreRangeAreRefused(string text) =>
        Assert.Throws<SettingException>(() => ValueParsers.ParseDuration(text, "--timeout"));

    [Theory]
    [InlineData("127.0.0.1:2525", "127.0.0.1:2525")]
    [InlineData("[::1]:25", "[::1]:25")]
    [InlineData("localhost:0", "127.0.0.1:0")]
    [InlineData("*:2525", "[::]:2525")]
    [InlineData("0.0.0.0:25", "0.0.0.0:25")]
    public void EndpointsAreAddressAndPort(string text, string expected) =>
        Assert.Equal(IPEndPoint.Parse(expected), ValueParsers.ParseEndpoint(text, "--listen"));

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData(":25")]
    [InlineData("::1:25")]
    [InlineData("example.com:25")]
    [InlineData("127.0.0.1:65536")]
    public void EndpointsWithoutAPortOrWithANameAreRefused(string text) =>
        Assert.Throws<SettingException>(() => ValueParsers.ParseEndpoint(text, "--listen"));

    [Theory]
    [InlineData("10.0.0.0/8", "10.200.3.4", true)]
    [InlineData("10.0.0.0/8", "11.0.0.1", false)]
    [InlineData("192.168.1.7", "192.168.1.7", true)]
    [InlineData("192.168.1.7", "192.168.1.8", false)]
    [InlineData("2001:db8::/32", "2001:db8:1::5", true)]
    [InlineData("::1", "::1", true)]
    public void CidrBlocksAndSingleAddressesMatchTheirMembers(string cidr, string address, bool member) =>
        Assert.Equal(member, ValueParsers.ParseCidr(cidr, "--reject-host").Contains(IPAddress.Parse(address)));

    [Theory]
    [InlineData("10.0.0.1/8")]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0/8")]
    [InlineData("host.example")]
    public void MalformedCidrBlocksAreRefused(string cidr) =>
        Assert.Throws<SettingException>(() => ValueParsers.ParseCidr(cidr, "--reject-host"));

    [Fact]
    public void CredentialsSplitAtTheFirstColonSoPasswordsMayContainColons() =>
        Assert.Equal(("user", "pa:ss"), ValueParsers.ParseCredentials("user:pa:ss", "--auth"));

    [Fact]
    public void PolicyPatternsIgnoreCaseAndBadOnesAreRefused()
    {
        Assert.Matches(ValueParsers.ParseRegex("@example\\.com$", "--allow-sender"), "A@EXAMPLE.COM");
        Assert.Throws<SettingException>(() => ValueParsers.ParseRegex("(", "--allow-sender"));
    }

    [Fact]
    public void SinceTakesATimeOrADurationBackFromNow()
    {
        var now = new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
        Assert.Equal(now.AddMinutes(-10), ValueParsers.ParseSince("10m", "--since", now));
        Assert.Equal(now.AddDays(-2), ValueParsers.ParseSince("2d", "--since", now));
        Assert.Equal(new DateTimeOffset(2025, 1, 31, 14, 0, 0, TimeSpan.Zero), ValueParsers.ParseSince("2025-01-31T14:00:00Z", "--since", now));
        Assert.Throws<SettingException>(() => ValueParsers.ParseSince("yesterday", "--since", now));
    }
}
