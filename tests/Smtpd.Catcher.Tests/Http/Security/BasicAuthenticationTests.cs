using System.Net;
using Smtpd.Catcher.Http.Security;

namespace Smtpd.Catcher.Tests.Http.Security;

public sealed class BasicAuthenticationTests
{
    /// <summary>The example hash of PHP's password_verify manual page: <c>rasmuslerdorf</c>, bcrypt <c>$2y$</c> cost 10.</summary>
    internal const string PhpManualHash = "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a";

    [Fact]
    public async Task WithoutUsersNoCredentialsAreAsked()
    {
        await using var host = await SecuredHost.StartAsync();
        using var response = await host.GetAsync("api/v1/whoami");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("(nobody)", await SecuredHost.BodyAsync(response));
    }

    [Fact]
    public async Task MissingCredentialsGet401WithTheSmtpdRealm()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddUser("alice:s3cret:with colon");
        await using var host = await SecuredHost.StartAsync(options);
        using var response = await host.GetAsync("api/v1/info");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Basic realm=\"smtpd\"", Assert.Single(response.Headers.WwwAuthenticate).ToString());
        Assert.Equal("Authentication required\n", await SecuredHost.BodyAsync(response));
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
    }

    [Theory]
    [InlineData("alice", "wrong")]
    [InlineData("alice", "s3cret:with colo")]
    [InlineData("alice", "s3cret:with colonx")]
    [InlineData("Alice", "s3cret:with colon")]
    [InlineData("mallory", "s3cret:with colon")]
    public async Task WrongCredentialsGet401(string user, string password)
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddUser("alice:s3cret:with colon");
        await using var host = await SecuredHost.StartAsync(options);
        using var response = await host.GetAsync("api/v1/info", SecuredHost.WithBasic(user, password));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Wrong user name or password\n", await SecuredHost.BodyAsync(response));
        Assert.Single(response.Headers.WwwAuthenticate);
    }

    [Fact]
    public async Task RightCredentialsGet200AndNameTheUser()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddUsers("bob:one  alice:s3cret:with-colon");
        await using var host = await SecuredHost.StartAsync(options);
        using var response = await host.GetAsync("api/v1/whoami", SecuredHost.WithBasic("alice", "s3cret:with-colon"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("alice", await SecuredHost.BodyAsync(response));
    }

    [Theory]
    [InlineData("Bearer abc")]
    [InlineData("Basic !!!not-base64")]
    [InlineData("Basic YWxpY2U=")] // "alice", no colon
    public async Task AMalformedAuthorizationHeaderGets401(string header)
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddUser("alice:pw");
        await using var host = await SecuredHost.StartAsync(options);
        using var response = await host.GetAsync("api/v1/info", request => request.Headers.TryAddWithoutValidation("Authorization", header));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task TheSchemeNameIsCaseInsensitive()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddUser("alice:pw");
        await using var host = await SecuredHost.StartAsync(options);
        using var response = await host.GetAsync("api/v1/info", request => request.Headers.TryAddWithoutValidation("Authorization", "bAsIc YWxpY2U6cHc="));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task AnHtpasswdBcryptUserLogsInAndAWrongPasswordStillFailsAfterASuccess()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddHtpasswd(new StringReader($"rasmus:{PhpManualHash}\n"), "users.htpasswd");
        await using var host = await SecuredHost.StartAsync(options);
        using var right = await host.GetAsync("api/v1/whoami", SecuredHost.WithBasic("rasmus", "rasmuslerdorf"));
        using var again = await host.GetAsync("api/v1/whoami", SecuredHost.WithBasic("rasmus", "rasmuslerdorf"));
        using var wrong = await host.GetAsync("api/v1/whoami", SecuredHost.WithBasic("rasmus", "rasmuslerdorF"));
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal("rasmus", await SecuredHost.BodyAsync(right));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
    }

    [Fact]
    public async Task ACorsPreflightIsAnsweredWithoutCredentialsBecauseBrowsersSendNone()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddUser("alice:pw");
        options.AddCorsOrigins("http://localhost:3000");
        await using var host = await SecuredHost.StartAsync(options);
        using var response = await host.SendAsync(HttpMethod.Options, "api/v1/messages", content: null, request =>
        {
            request.Headers.TryAddWithoutValidation("Origin", "http://localhost:3000");
            request.Headers.TryAddWithoutValidation("Access-Control-Request-Method", "DELETE");
        });
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("http://localhost:3000", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Equal("true", Assert.Single(response.Headers.GetValues("Access-Control-Allow-Credentials")));
    }
}
