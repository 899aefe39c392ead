using Smtpd.Catcher.Http.Live;

namespace Smtpd.Catcher.Tests.Http.Live;

public sealed class CatcherLiveOptionsTests
{
    [Fact]
    public void DefaultsAreTheDocumentedValues()
    {
        var options = new CatcherLiveOptions();
        Assert.Equal(100, options.MaxSubscribers);
        Assert.Equal(256, options.SubscriberQueueCapacity);
        Assert.Equal(256, options.ReplayCapacity);
        Assert.Equal(100, options.MaxWaits);
        Assert.Equal(1000, options.MaxWaitCount);
        Assert.Equal(TimeSpan.FromSeconds(30), options.DefaultWaitTimeout);
        Assert.Equal(TimeSpan.FromMinutes(5), options.MaxWaitTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), options.KeepAliveInterval);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.StatsInterval);
    }

    public static TheoryData<string, object, bool> Values => new()
    {
        { nameof(CatcherLiveOptions.MaxSubscribers), 1, true },
        { nameof(CatcherLiveOptions.MaxSubscribers), 0, false },
        { nameof(CatcherLiveOptions.MaxSubscribers), 100_001, false },
        { nameof(CatcherLiveOptions.SubscriberQueueCapacity), 1, true },
        { nameof(CatcherLiveOptions.SubscriberQueueCapacity), 0, false },
        { nameof(CatcherLiveOptions.ReplayCapacity), 0, true },
        { nameof(CatcherLiveOptions.ReplayCapacity), -1, false },
        { nameof(CatcherLiveOptions.MaxWaits), 5, true },
        { nameof(CatcherLiveOptions.MaxWaits), 0, false },
        { nameof(CatcherLiveOptions.MaxWaitCount), 1, true },
        { nameof(CatcherLiveOptions.MaxWaitCount), 0, false },
        { nameof(CatcherLiveOptions.DefaultWaitTimeout), TimeSpan.Zero, true },
        { nameof(CatcherLiveOptions.DefaultWaitTimeout), TimeSpan.FromMinutes(6), false },
        { nameof(CatcherLiveOptions.DefaultWaitTimeout), TimeSpan.FromSeconds(-1), false },
        { nameof(CatcherLiveOptions.MaxWaitTimeout), TimeSpan.FromHours(1), true },
        { nameof(CatcherLiveOptions.MaxWaitTimeout), TimeSpan.FromSeconds(10), false },
        { nameof(CatcherLiveOptions.MaxWaitTimeout), TimeSpan.FromHours(2), false },
        { nameof(CatcherLiveOptions.KeepAliveInterval), TimeSpan.FromSeconds(1), true },
        { nameof(CatcherLiveOptions.KeepAliveInterval), TimeSpan.Zero, false },
        { nameof(CatcherLiveOptions.StatsInterval), TimeSpan.Zero, true },
        { nameof(CatcherLiveOptions.StatsInterval), TimeSpan.FromMinutes(2), false },
    };

    [Theory]
    [MemberData(nameof(Values))]
    public void EachLimitTakesAValueInRangeAndRefusesOneOutside(string property, object value, bool valid)
    {
        var options = new CatcherLiveOptions();
        var setter = typeof(CatcherLiveOptions).GetProperty(property)!;
        if (valid)
        {
            setter.SetValue(options, value);
            Assert.Equal(value, setter.GetValue(options));
        }
        else
        {
            var error = Assert.Throws<System.Reflection.TargetInvocationException>(() => setter.SetValue(options, value));
            Assert.Equal(property, Assert.IsType<ArgumentOutOfRangeException>(error.InnerException).ParamName);
        }
    }
}

public sealed class WaitDurationTests
{
    [Theory]
    [InlineData("30", 30_000)]
    [InlineData("30s", 30_000)]
    [InlineData("5m", 300_000)]
    [InlineData("1500ms", 1500)]
    [InlineData("0", 0)]
    [InlineData(" 200MS ", 200)]
    public void ADurationIsWholeSecondsOrANumberWithMsSOrM(string text, long milliseconds)
    {
        Assert.True(WaitDuration.TryParse(text, out var duration));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration);
    }

    [Theory]
    [InlineData("")]
    [InlineData("s")]
    [InlineData("-1")]
    [InlineData("1.5s")]
    [InlineData("10h")]
    [InlineData("abc")]
    [InlineData("1234567890")]
    [InlineData(null)]
    public void AnythingElseIsNotADuration(string? text) => Assert.False(WaitDuration.TryParse(text, out _));

    [Theory]
    [InlineData(300_000, "5m")]
    [InlineData(30_000, "30s")]
    [InlineData(1500, "1500ms")]
    [InlineData(0, "0s")]
    public void FormattingUsesTheLargestExactUnit(long milliseconds, string text) =>
        Assert.Equal(text, WaitDuration.Format(TimeSpan.FromMilliseconds(milliseconds)));
}
