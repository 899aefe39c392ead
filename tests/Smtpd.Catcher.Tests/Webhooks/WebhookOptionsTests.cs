using Smtpd.Catcher.Webhooks;

namespace Smtpd.Catcher.Tests.Webhooks;

/// <summary><see cref="WebhookOptions"/>: each setting's default, a valid value and an invalid one, and the backoff.</summary>
public sealed class WebhookOptionsTests
{
    [Fact]
    public void TheDefaultsSendNothingAndBoundTheQueueAttemptsAndWaits()
    {
        var options = new WebhookOptions();
        Assert.Null(options.Url);
        Assert.False(options.Enabled);
        Assert.Equal(1000, options.QueueCapacity);
        Assert.Equal(5, options.MaxAttempts);
        Assert.Equal(TimeSpan.FromSeconds(1), options.InitialBackoff);
        Assert.Equal(TimeSpan.FromSeconds(30), options.MaxBackoff);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Timeout);
        Assert.Same(TimeProvider.System, options.TimeProvider);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8080/hook", true)]
    [InlineData("https://hooks.example.com/smtpd", true)]
    [InlineData("ftp://example.com/", false)]
    [InlineData("file:///tmp/x", false)]
    public void TheUrlMustBeHttpOrHttps(string url, bool valid)
    {
        var options = new WebhookOptions();
        if (valid)
        {
            options.Url = new Uri(url);
            Assert.True(options.Enabled);
        }
        else
        {
            Assert.Throws<ArgumentException>(() => options.Url = new Uri(url));
        }
    }

    [Fact]
    public void CountsAndDurationsOutsideTheirRangesAreRefused()
    {
        var options = new WebhookOptions { QueueCapacity = 1, MaxAttempts = 100, InitialBackoff = TimeSpan.FromMilliseconds(1), Timeout = TimeSpan.FromMinutes(10) };
        Assert.Equal(1, options.QueueCapacity);
        Assert.Equal(100, options.MaxAttempts);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.QueueCapacity = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxAttempts = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxAttempts = 101);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.InitialBackoff = TimeSpan.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxBackoff = TimeSpan.FromHours(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => options.Timeout = TimeSpan.FromMilliseconds(50));
    }

    [Fact]
    public void TheBackoffDoublesAfterEachFailureUpToTheCap()
    {
        var options = new WebhookOptions { InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(5) };
        Assert.Equal(
            [1, 2, 4, 5, 5],
            Enumerable.Range(1, 5).Select(a => options.Backoff(a).TotalSeconds));
        Assert.Equal(TimeSpan.FromSeconds(5), options.Backoff(1000));
    }
}
