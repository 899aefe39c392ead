using Smtpd.Catcher.Search;

namespace Smtpd.Catcher.Tests.Search;

public sealed class SearchTimeZoneTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void NoZoneIsTheLocalZoneAsInMailpit(string? id)
    {
        Assert.True(SearchTimeZone.TryResolve(id, out var zone));
        Assert.Equal(TimeZoneInfo.Local, zone);
    }

    [Fact]
    public void UtcIsAlwaysKnown()
    {
        Assert.True(SearchTimeZone.TryResolve("UTC", out var zone));
        Assert.Equal(TimeSpan.Zero, zone.BaseUtcOffset);
    }

    [Theory]
    [InlineData("Nowhere/Atlantis")]
    [InlineData("../../etc/passwd")]
    [InlineData("Europe/Berlin\0")]
    [InlineData("Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void AnUnknownOrMalformedZoneIsRefused(string id) => Assert.False(SearchTimeZone.TryResolve(id, out _));
}
