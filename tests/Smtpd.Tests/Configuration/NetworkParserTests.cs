using Smtpd.Configuration;

namespace Smtpd.Tests.Configuration;

/// <summary>The one CIDR parser the hosting layer and the CLI share.</summary>
public sealed class NetworkParserTests
{
    [Theory]
    [InlineData("10.0.0.0/8", "10.0.0.0/8")]
    [InlineData(" 192.168.1.7 ", "192.168.1.7/32")]
    [InlineData("2001:db8::/32", "2001:db8::/32")]
    [InlineData("::1", "::1/128")]
    [InlineData("0.0.0.0/0", "0.0.0.0/0")]
    public void ABlockOrABareAddressIsRead(string text, string expected)
    {
        Assert.True(NetworkParser.TryParseCidr(text, out var network));
        Assert.Equal(expected, network.ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("10.0.0.1/8")]
    [InlineData("10.0.0/8")]
    [InlineData("10")]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0/-1")]
    [InlineData("10.0.0.0/")]
    [InlineData("2001:db8::1/32")]
    [InlineData("example.com")]
    public void AnythingElseIsRefused(string? text) => Assert.False(NetworkParser.TryParseCidr(text, out _));
}
