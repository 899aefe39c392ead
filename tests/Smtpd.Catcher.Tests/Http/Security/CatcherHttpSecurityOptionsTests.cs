using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Smtpd.Catcher.Http.Security;

namespace Smtpd.Catcher.Tests.Http.Security;

public sealed class CatcherHttpSecurityOptionsTests
{
    [Fact]
    public void DefaultsAreKestrelsBodyCapAndFourKilobytesOfQuery()
    {
        var options = new CatcherHttpSecurityOptions();
        Assert.Equal(30_000_000, options.MaxRequestBodySize);
        Assert.Equal(4096, options.MaxQueryStringLength);
        Assert.Empty(options.AllowedHosts);
        Assert.Empty(options.CorsOrigins);
        Assert.False(options.AuthenticationEnabled);
        Assert.Equal("/view", Assert.Single(options.FramablePaths).Value);
    }

    [Fact]
    public void LimitsAcceptValidValuesAndRefuseOnesThatWouldTurnThemOff()
    {
        var options = new CatcherHttpSecurityOptions { MaxRequestBodySize = 1, MaxQueryStringLength = 1 };
        Assert.Equal(1, options.MaxRequestBodySize);
        Assert.Equal(1, options.MaxQueryStringLength);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxRequestBodySize = 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => options.MaxQueryStringLength = 0);
    }

    [Theory]
    [InlineData("alice")]
    [InlineData(":pw")]
    [InlineData("alice:")]
    [InlineData("al\tice:pw")]
    [InlineData("alice:p\nw")]
    public void AUserValueMustBeUserColonPasswordWithoutControlCharacters(string value)
    {
        var options = new CatcherHttpSecurityOptions();
        Assert.Throws<ArgumentException>(() => options.AddUser(value));
        Assert.False(options.AuthenticationEnabled);
    }

    [Fact]
    public void AUserGivenTwiceIsRefused()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddUsers("alice:one bob:two");
        var error = Assert.Throws<ArgumentException>(() => options.AddUser("alice:three"));
        Assert.StartsWith("UI user 'alice' is given twice.", error.Message, StringComparison.Ordinal);
        Assert.Equal(["alice", "bob"], options.UserNames);
        Assert.True(options.AuthenticationEnabled);
    }

    [Theory]
    [InlineData("http://localhost:3000", "http://localhost:3000")]
    [InlineData("HTTPS://App.Test/", "https://app.test")]
    [InlineData("https://app.test:443", "https://app.test")]
    [InlineData("http://[::1]:8080", "http://[::1]:8080")]
    [InlineData("*", "*")]
    public void CorsOriginsAreNormalizedToTheirOriginHeaderForm(string given, string stored)
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddCorsOrigins(given);
        Assert.Equal(stored, Assert.Single(options.CorsOrigins));
    }

    [Fact]
    public void ACommaSeparatedCorsListAddsEachOrigin()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddCorsOrigins("http://a.test, https://b.test");
        Assert.Equal(["http://a.test", "https://b.test"], options.CorsOrigins);
    }

    [Theory]
    [InlineData("localhost:3000")]
    [InlineData("ftp://files.test")]
    [InlineData("http://app.test/path")]
    [InlineData("http://user@app.test")]
    [InlineData("http://app.test?x=1")]
    public void AnOriginThatIsNotSchemeHostPortIsRefusedWithTheFlagName(string given)
    {
        var options = new CatcherHttpSecurityOptions();
        var error = Assert.Throws<ArgumentException>(() => options.AddCorsOrigins(given));
        Assert.Contains("--api-cors", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mail.test:8025")]
    [InlineData("http://mail.test")]
    [InlineData("bad name")]
    public void AnAllowedHostMustBeABareNameAndValidateSaysWhich(string given)
    {
        var options = new CatcherHttpSecurityOptions();
        options.AllowedHosts.Add(given);
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains($"'{given}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("--http-host", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidateAcceptsNamesAddressesAndStar()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AllowedHosts.Add("smtpd");
        options.AllowedHosts.Add("mail.example.com.");
        options.AllowedHosts.Add("[::1]");
        options.AllowedHosts.Add("*");
        options.Validate();
    }

    [Fact]
    public async Task BadRequestIsPlainTextOnOneLine()
    {
        var result = CatcherHttpResults.BadRequest("bad date\r\n'x'");
        var context = new DefaultHttpContext
        {
            RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider(),
        };
        var body = new MemoryStream();
        context.Response.Body = body;
        await result.ExecuteAsync(context);
        Assert.Equal(400, context.Response.StatusCode);
        Assert.Equal("text/plain; charset=utf-8", context.Response.ContentType);
        Assert.Equal("bad date  'x'\n", System.Text.Encoding.UTF8.GetString(body.ToArray()));
    }
}
