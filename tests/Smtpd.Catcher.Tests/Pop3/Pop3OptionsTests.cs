using Smtpd.Catcher.Pop3;

namespace Smtpd.Catcher.Tests.Pop3;

/// <summary>Every POP3 limit: its documented default, a valid value and an invalid one.</summary>
public sealed class Pop3OptionsTests
{
    [Fact]
    public void TheDefaultsAreTheDocumentedOnes()
    {
        var options = new CatcherOptions().Pop3;
        Assert.Empty(options.EndPoints);
        Assert.Empty(options.Users);
        Assert.Equal(255, options.MaxLineLength);
        Assert.Equal(100, options.MaxConnections);
        Assert.Equal(20, options.MaxBadCommands);
        Assert.Equal(3, options.MaxAuthFailures);
        Assert.Equal(TimeSpan.FromMinutes(10), options.CommandTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), options.TlsHandshakeTimeout);
        Assert.Same(TimeProvider.System, options.TimeProvider);
    }

    [Fact]
    public void ValidValuesAreKept()
    {
        var options = new Pop3Options
        {
            MaxLineLength = 64,
            MaxConnections = 1,
            MaxBadCommands = 1,
            MaxAuthFailures = 1,
            CommandTimeout = TimeSpan.FromSeconds(1),
            TlsHandshakeTimeout = TimeSpan.FromSeconds(1),
        };
        Assert.Equal(64, options.MaxLineLength);
        Assert.Equal(1, options.MaxConnections);
        Assert.Equal(1, options.MaxBadCommands);
        Assert.Equal(1, options.MaxAuthFailures);
        Assert.Equal(TimeSpan.FromSeconds(1), options.CommandTimeout);
        Assert.Equal(TimeSpan.FromSeconds(1), options.TlsHandshakeTimeout);
    }

    [Fact]
    public void InvalidValuesAreRefusedWithTheSettingsName()
    {
        var options = new Pop3Options();
        Assert.Equal(nameof(Pop3Options.MaxLineLength), Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxLineLength = 63).ParamName);
        Assert.Equal(nameof(Pop3Options.MaxConnections), Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxConnections = 0).ParamName);
        Assert.Equal(nameof(Pop3Options.MaxBadCommands), Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxBadCommands = 0).ParamName);
        Assert.Equal(nameof(Pop3Options.MaxAuthFailures), Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxAuthFailures = 0).ParamName);
        Assert.Equal(nameof(Pop3Options.CommandTimeout), Assert.Throws<ArgumentOutOfRangeException>(() => options.CommandTimeout = TimeSpan.FromMilliseconds(999)).ParamName);
        Assert.Equal(nameof(Pop3Options.TlsHandshakeTimeout), Assert.Throws<ArgumentOutOfRangeException>(() => options.TlsHandshakeTimeout = TimeSpan.Zero).ParamName);
        Assert.Throws<ArgumentNullException>(() => options.TimeProvider = null!);
    }
}
