using System.Text.RegularExpressions;
using Smtpd.Catcher.Relay;

namespace Smtpd.Catcher.Tests.Relay;

/// <summary><see cref="RelayOptions"/>: each setting's default, a valid value and an invalid one.</summary>
public sealed class RelayOptionsTests
{
    [Fact]
    public void TheDefaultsRelayNothingValidateCertificatesAndKeepTheOriginalSender()
    {
        var options = new RelayOptions();
        Assert.Null(options.Server);
        Assert.False(options.Enabled);
        Assert.Null(options.UserName);
        Assert.Null(options.Password);
        Assert.Null(options.Sender);
        Assert.Null(options.AllowRecipients);
        Assert.Null(options.Matching);
        Assert.False(options.RequireStartTls);
        Assert.False(options.AllowUntrustedCertificate);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Timeout);
        Assert.Equal(1000, options.QueueCapacity);
        Assert.True(options.IsAllowed("anyone@anywhere.example"));
    }

    [Theory]
    [InlineData("smtp://mail.example.com", "smtp://mail.example.com:25", false)]
    [InlineData("smtp://mail.example.com:587", "smtp://mail.example.com:587", false)]
    [InlineData("smtps://mail.example.com", "smtps://mail.example.com:465", true)]
    [InlineData("SMTPS://127.0.0.1:2465/", "smtps://127.0.0.1:2465", true)]
    public void AnSmtpOrSmtpsUrlSetsTheServerAndItsDefaultPort(string url, string name, bool implicitTls)
    {
        var options = new RelayOptions { Server = new Uri(url) };
        Assert.True(options.Enabled);
        Assert.Equal(name, options.ServerName);
        Assert.Equal(implicitTls, options.ImplicitTls);
    }

    [Fact]
    public void UserInfoInTheUrlSetsTheCredentialsDecodedAndTheNameNeverShowsThem()
    {
        var options = new RelayOptions { Server = new Uri("smtp://me%40example.com:p%3Ass@mail.example.com:587") };
        Assert.Equal("me@example.com", options.UserName);
        Assert.Equal("p:ss", options.Password);
        Assert.Equal("smtp://mail.example.com:587", options.ServerName);
    }

    [Theory]
    [InlineData("http://mail.example.com")]
    [InlineData("smtp://mail.example.com/path")]
    [InlineData("smtp://mail.example.com?x=1")]
    [InlineData("file:///etc/passwd")]
    public void AnythingButABareSmtpUrlIsRefused(string url) =>
        Assert.Throws<ArgumentException>(() => new RelayOptions { Server = new Uri(url) });

    [Theory]
    [InlineData("relay@example.com", true)]
    [InlineData("", false)]
    [InlineData("no-at-sign", false)]
    [InlineData("a@b>\r\nRSET", false)]
    [InlineData("two words@example.com", false)]
    public void TheSenderMustBeAPlainAddress(string sender, bool valid)
    {
        var options = new RelayOptions();
        if (valid)
        {
            options.Sender = sender;
            Assert.Equal(sender, options.Sender);
        }
        else
        {
            Assert.Throws<ArgumentException>(() => options.Sender = sender);
        }
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(3600, true)]
    [InlineData(0, false)]
    [InlineData(3601, false)]
    public void TheTimeoutIsBetweenOneSecondAndOneHour(int seconds, bool valid)
    {
        var options = new RelayOptions();
        if (valid)
        {
            options.Timeout = TimeSpan.FromSeconds(seconds);
            Assert.Equal(TimeSpan.FromSeconds(seconds), options.Timeout);
        }
        else
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => options.Timeout = TimeSpan.FromSeconds(seconds));
        }
    }

    [Theory]
    [InlineData(1, true)]
    [InlineData(1_000_000, true)]
    [InlineData(0, false)]
    [InlineData(-1, false)]
    public void TheQueueCapacityIsBetweenOneAndAMillion(int capacity, bool valid)
    {
        var options = new RelayOptions();
        if (valid)
        {
            options.QueueCapacity = capacity;
            Assert.Equal(capacity, options.QueueCapacity);
        }
        else
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => options.QueueCapacity = capacity);
        }
    }

    [Fact]
    public void TheAllowListDecidesWhichRecipientsAreAllowed()
    {
        var options = new RelayOptions { AllowRecipients = new Regex("@example\\.org$", RegexOptions.IgnoreCase) };
        Assert.True(options.IsAllowed("carol@EXAMPLE.org"));
        Assert.False(options.IsAllowed("mallory@evil.example"));
    }
}
