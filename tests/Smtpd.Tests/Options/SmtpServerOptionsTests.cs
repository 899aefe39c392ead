namespace Smtpd.Tests.Options;

/// <summary>Every limit: its documented default, a valid value, and an invalid value (Kestrel's KestrelServerLimitsTests pattern).</summary>
public sealed class SmtpServerOptionsTests
{
    public static TheoryData<string, object> Defaults => new()
    {
        { nameof(SmtpServerOptions.MaxCommandLineLength), 512 },
        { nameof(SmtpServerOptions.MaxTextLineLength), 1000 },
        { nameof(SmtpServerOptions.MaxMessageSize), 35L * 1024 * 1024 },
        { nameof(SmtpServerOptions.MaxRecipients), 100 },
        { nameof(SmtpServerOptions.MaxErrors), 20 },
        { nameof(SmtpServerOptions.CommandTimeout), TimeSpan.FromMinutes(5) },
        { nameof(SmtpServerOptions.DataTimeout), TimeSpan.FromMinutes(5) },
        { nameof(SmtpServerOptions.MaxSessions), 1000 },
        { nameof(SmtpServerOptions.MaxSessionsPerClient), 50 },
        { nameof(SmtpServerOptions.MaxJunkCommands), 100 },
        { nameof(SmtpServerOptions.MinimumDataRate), 240.0 },
        { nameof(SmtpServerOptions.MinimumDataRateGracePeriod), TimeSpan.FromSeconds(5) },
        { nameof(SmtpServerOptions.MessageMemoryThreshold), 64 * 1024 },
        { nameof(SmtpServerOptions.BareLineEndings), BareLineEndingPolicy.Reject },
        { nameof(SmtpServerOptions.Banner), "ESMTP Smtpd ready" },
        { nameof(SmtpServerOptions.TlsHandshakeTimeout), TimeSpan.FromSeconds(10) },
        { nameof(SmtpServerOptions.MaxAuthFailures), 3 },
        { nameof(SmtpServerOptions.AuthenticationMechanisms), SmtpAuthenticationMechanisms.Plain | SmtpAuthenticationMechanisms.Login | SmtpAuthenticationMechanisms.XOAuth2 | SmtpAuthenticationMechanisms.OAuthBearer },
        { nameof(SmtpServerOptions.AllowInsecureAuth), false },
        { nameof(SmtpServerOptions.RequireAuth), false },
        { nameof(SmtpServerOptions.RequireTls), false },
        { nameof(SmtpServerOptions.EnableDsn), false },
        { nameof(SmtpServerOptions.AlwaysAcceptPostmaster), true },
    };

    public static TheoryData<string, object> ValidValues => new()
    {
        { nameof(SmtpServerOptions.MaxCommandLineLength), 512 },
        { nameof(SmtpServerOptions.MaxCommandLineLength), 65536 },
        { nameof(SmtpServerOptions.MaxTextLineLength), 1000 },
        { nameof(SmtpServerOptions.MaxTextLineLength), int.MaxValue },
        { nameof(SmtpServerOptions.MaxMessageSize), 1L },
        { nameof(SmtpServerOptions.MaxMessageSize), long.MaxValue },
        { nameof(SmtpServerOptions.MaxRecipients), 1 },
        { nameof(SmtpServerOptions.MaxRecipients), 100_000 },
        { nameof(SmtpServerOptions.MaxErrors), 1 },
        { nameof(SmtpServerOptions.MaxErrors), 10_000 },
        { nameof(SmtpServerOptions.CommandTimeout), TimeSpan.FromMilliseconds(1) },
        { nameof(SmtpServerOptions.CommandTimeout), TimeSpan.FromDays(1) },
        { nameof(SmtpServerOptions.DataTimeout), TimeSpan.FromSeconds(30) },
        { nameof(SmtpServerOptions.MaxSessions), 1 },
        { nameof(SmtpServerOptions.MaxSessions), 1_000_000 },
        { nameof(SmtpServerOptions.MaxSessionsPerClient), 1 },
        { nameof(SmtpServerOptions.MaxJunkCommands), 1 },
        { nameof(SmtpServerOptions.MaxJunkCommands), int.MaxValue },
        { nameof(SmtpServerOptions.MinimumDataRate), 0.0 },
        { nameof(SmtpServerOptions.MinimumDataRate), 1e9 },
        { nameof(SmtpServerOptions.MinimumDataRateGracePeriod), TimeSpan.FromMilliseconds(100) },
        { nameof(SmtpServerOptions.MessageMemoryThreshold), 4 * 1024 },
        { nameof(SmtpServerOptions.MessageMemoryThreshold), 64 * 1024 * 1024 },
        { nameof(SmtpServerOptions.BareLineEndings), BareLineEndingPolicy.Normalize },
        { nameof(SmtpServerOptions.AlwaysAcceptPostmaster), false },
        { nameof(SmtpServerOptions.Banner), "" },
        { nameof(SmtpServerOptions.ServerName), "mx.example.com" },
        { nameof(SmtpServerOptions.SpoolDirectory), "/tmp" },
        { nameof(SmtpServerOptions.TlsHandshakeTimeout), TimeSpan.FromSeconds(1) },
        { nameof(SmtpServerOptions.MaxAuthFailures), 1 },
        { nameof(SmtpServerOptions.MaxAuthFailures), 100 },
        { nameof(SmtpServerOptions.AuthenticationMechanisms), SmtpAuthenticationMechanisms.CramMd5 },
        { nameof(SmtpServerOptions.EnableDsn), true },
    };

    public static TheoryData<string, object> InvalidValues => new()
    {
        { nameof(SmtpServerOptions.MaxCommandLineLength), 511 },
        { nameof(SmtpServerOptions.MaxCommandLineLength), 65537 },
        { nameof(SmtpServerOptions.MaxTextLineLength), 999 },
        { nameof(SmtpServerOptions.MaxMessageSize), 0L },
        { nameof(SmtpServerOptions.MaxMessageSize), -1L },
        { nameof(SmtpServerOptions.MaxRecipients), 0 },
        { nameof(SmtpServerOptions.MaxRecipients), 100_001 },
        { nameof(SmtpServerOptions.MaxErrors), 0 },
        { nameof(SmtpServerOptions.CommandTimeout), TimeSpan.Zero },
        { nameof(SmtpServerOptions.CommandTimeout), TimeSpan.FromDays(2) },
        { nameof(SmtpServerOptions.DataTimeout), TimeSpan.FromSeconds(-1) },
        { nameof(SmtpServerOptions.MaxSessions), 0 },
        { nameof(SmtpServerOptions.MaxSessionsPerClient), 0 },
        { nameof(SmtpServerOptions.MaxJunkCommands), 0 },
        { nameof(SmtpServerOptions.MinimumDataRate), -1.0 },
        { nameof(SmtpServerOptions.MinimumDataRate), double.NaN },
        { nameof(SmtpServerOptions.MinimumDataRateGracePeriod), TimeSpan.Zero },
        { nameof(SmtpServerOptions.MessageMemoryThreshold), 4095 },
        { nameof(SmtpServerOptions.MessageMemoryThreshold), (64 * 1024 * 1024) + 1 },
        { nameof(SmtpServerOptions.BareLineEndings), (BareLineEndingPolicy)42 },
        { nameof(SmtpServerOptions.Banner), "two\r\nlines" },
        { nameof(SmtpServerOptions.ServerName), "" },
        { nameof(SmtpServerOptions.ServerName), "has space" },
        { nameof(SmtpServerOptions.SpoolDirectory), "  " },
        { nameof(SmtpServerOptions.TlsHandshakeTimeout), TimeSpan.Zero },
        { nameof(SmtpServerOptions.MaxAuthFailures), 0 },
        { nameof(SmtpServerOptions.MaxAuthFailures), 101 },
        { nameof(SmtpServerOptions.AuthenticationMechanisms), SmtpAuthenticationMechanisms.None },
        { nameof(SmtpServerOptions.AuthenticationMechanisms), (SmtpAuthenticationMechanisms)64 },
    };

    [Theory]
    [MemberData(nameof(Defaults))]
    public void EachLimitHasItsDocumentedDefault(string option, object expected) =>
        Assert.Equal(expected, Property(option).GetValue(new SmtpServerOptions()));

    [Theory]
    [MemberData(nameof(ValidValues))]
    public void EachLimitAcceptsAValidValue(string option, object value)
    {
        var options = new SmtpServerOptions();
        // A valid value equal to the current one would pass even if the setter ignored it. A boundary that is also
        // the default (the RFC minimum line lengths) is set after another valid value of the same option.
        if (Equals(value, Property(option).GetValue(options)))
        {
            var other = ValidValues.Select(row => row.Data).First(row => (string)row.Item1 == option && !Equals(row.Item2, value)).Item2;
            Property(option).SetValue(options, other);
        }

        Assert.NotEqual(value, Property(option).GetValue(options));
        Property(option).SetValue(options, value);
        Assert.Equal(value, Property(option).GetValue(options));
    }

    [Theory]
    [MemberData(nameof(InvalidValues))]
    public void EachLimitRejectsAnInvalidValueWithAClearException(string option, object value)
    {
        var options = new SmtpServerOptions();
        var before = Property(option).GetValue(options);
        var thrown = Assert.Throws<System.Reflection.TargetInvocationException>(() => Property(option).SetValue(options, value));
        var error = Assert.IsAssignableFrom<ArgumentException>(thrown.InnerException);
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
        Assert.Equal(before, Property(option).GetValue(options));
    }

    [Fact]
    public void EveryLimitIsCoveredByTheDefaultValidAndInvalidTables()
    {
        var limits = typeof(SmtpServerOptions).GetProperties()
            .Where(p => p.PropertyType == typeof(int) || p.PropertyType == typeof(long) || p.PropertyType == typeof(double) || p.PropertyType == typeof(TimeSpan))
            .Select(p => p.Name)
            .ToHashSet();
        Assert.NotEmpty(limits);
        Assert.Subset(Names(Defaults), limits);
        Assert.Subset(Names(ValidValues), limits);
        Assert.Subset(Names(InvalidValues), limits);

        static HashSet<string> Names(TheoryData<string, object> data) => data.Select(row => (string)row.Data.Item1).ToHashSet();
    }

    [Fact]
    public void ServerNameDefaultsToTheMachineHostName()
    {
        var name = new SmtpServerOptions().ServerName;
        Assert.False(string.IsNullOrWhiteSpace(name));
        Assert.DoesNotContain(' ', name);
    }

    [Fact]
    public void CloneIsIndependentOfTheOriginal()
    {
        var options = new SmtpServerOptions { MaxRecipients = 7 };
        var copy = options.Clone();
        options.MaxRecipients = 8;
        Assert.Equal(7, copy.MaxRecipients);
    }

    [Fact]
    public void ToStringListsEveryOptionByName()
    {
        var text = new SmtpServerOptions { MaxErrors = 3 }.ToString();
        Assert.Contains("MaxErrors=3", text, StringComparison.Ordinal);
        foreach (var property in typeof(SmtpServerOptions).GetProperties())
        {
            Assert.Contains(property.Name + "=", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void MaxSessionsPerClientExemptionsDefaultToNone()
    {
        Assert.Empty(new SmtpServerOptions().MaxSessionsPerClientExemptions);
    }

    [Fact]
    public void MaxSessionsPerClientExemptionsTakeACopyOfTheNetworks()
    {
        var networks = new List<System.Net.IPNetwork> { System.Net.IPNetwork.Parse("127.0.0.0/8"), System.Net.IPNetwork.Parse("::1/128") };
        var options = new SmtpServerOptions { MaxSessionsPerClientExemptions = networks };
        networks.Clear();

        Assert.Equal([System.Net.IPNetwork.Parse("127.0.0.0/8"), System.Net.IPNetwork.Parse("::1/128")], options.MaxSessionsPerClientExemptions);
        Assert.Contains("MaxSessionsPerClientExemptions=127.0.0.0/8,::1/128", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void MaxSessionsPerClientExemptionsRejectNullAndKeepTheirValue()
    {
        var options = new SmtpServerOptions { MaxSessionsPerClientExemptions = [System.Net.IPNetwork.Parse("10.0.0.0/8")] };

        Assert.Throws<ArgumentNullException>(() => options.MaxSessionsPerClientExemptions = null!);
        Assert.Equal([System.Net.IPNetwork.Parse("10.0.0.0/8")], options.MaxSessionsPerClientExemptions);
    }

    private static System.Reflection.PropertyInfo Property(string name) =>
        typeof(SmtpServerOptions).GetProperty(name) ?? throw new InvalidOperationException($"No option {name}.");
}
