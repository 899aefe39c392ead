using System.Net;
using System.Security.Cryptography;
using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;

namespace Smtpd.Tests.Integration;

/// <summary>AUTH (RFC 4954) with every mechanism, every error reply, and secrets kept out of the logs.</summary>
public sealed class AuthTests
{
    private const string User = "alice";
    private const string Password = "s3cret-pässword";
    private const string Token = "ya29.token-value";

    [Fact]
    public async Task AuthIsNotAdvertisedOverPlaintextAndIsRefusedWith538()
    {
        await using var server = StartServer(allowInsecure: false);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("538 5.7.11 Encryption required for requested authentication mechanism", await client.CommandAsync("AUTH PLAIN " + Plain("", User, Password)));
        var ehlo = await client.CommandAsync("EHLO client.test");
        Assert.DoesNotContain("AUTH", ehlo, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuthIsAdvertisedOverTlsWithTheConfiguredMechanisms()
    {
        await using var server = StartServer(allowInsecure: false, configure: o => o.AuthenticationMechanisms = SmtpAuthenticationMechanisms.Default | SmtpAuthenticationMechanisms.CramMd5);
        await using var client = await TlsTests.ConnectAndStartTlsAsync(server);
        Assert.Contains("250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2 OAUTHBEARER", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandAsync("AUTH PLAIN " + Plain("", User, Password)));
        Assert.DoesNotContain("AUTH", await client.CommandAsync("EHLO client.test"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainWithAnInitialResponseSucceedsAndTheIdentityReachesTheCallbacks()
    {
        await using var server = StartServer();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandAsync("AUTH PLAIN " + Plain("", User, Password)));
        await SendOneMessageAsync(client);
        var message = await server.WaitForMessageAsync();
        Assert.Equal(User, message.Session.AuthenticatedIdentity);
        Assert.Equal("PLAIN", message.Session.AuthenticationMechanism);
    }

    [Fact]
    public async Task PlainAfterAnEmptyChallengeSucceeds()
    {
        await using var server = StartServer();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("334 ", await client.CommandAsync("AUTH PLAIN"));
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandAsync(Plain("", User, Password)));
    }

    [Fact]
    public async Task LoginAsksForTheUserNameThenThePassword()
    {
        await using var server = StartServer();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("334 VXNlcm5hbWU6", await client.CommandAsync("auth login"));
        Assert.Equal("334 UGFzc3dvcmQ6", await client.CommandAsync(B64(User)));
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandAsync(B64(Password)));
    }

    [Fact]
    public async Task LoginWithTheUserNameAsInitialResponseSucceeds()
    {
        await using var server = StartServer();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("334 UGFzc3dvcmQ6", await client.CommandAsync("AUTH LOGIN " + B64(User)));
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandAsync(B64(Password)));
    }

    [Fact]
    public async Task CramMd5IsOptInAndVerifiesTheDigest()
    {
        await using (var defaults = StartServer())
        {
            await using var plainClient = await defaults.ConnectAndEhloAsync();
            Assert.Equal("504 5.5.4 Unrecognized authentication type", await plainClient.CommandAsync("AUTH CRAM-MD5"));
        }

        await using var server = StartServer(configure: o => o.AuthenticationMechanisms = SmtpAuthenticationMechanisms.CramMd5);
        await using var client = await server.ConnectAndEhloAsync();
        var challenge = await client.CommandAsync("AUTH CRAM-MD5");
        Assert.StartsWith("334 ", challenge);
        var challengeText = Encoding.ASCII.GetString(Convert.FromBase64String(challenge[4..]));
        Assert.Matches(@"^<\d+\.\d+@test\.local>$", challengeText);
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandAsync(B64($"{User} {CramDigest(challengeText, Password)}")));

        await using var wrong = await server.ConnectAndEhloAsync();
        var second = Encoding.ASCII.GetString(Convert.FromBase64String((await wrong.CommandAsync("AUTH CRAM-MD5"))[4..]));
        Assert.NotEqual(challengeText, second);
        Assert.Equal("535 5.7.8 Authentication credentials invalid", await wrong.CommandAsync(B64($"{User} {CramDigest(second, "wrong")}")));
    }

    [Fact]
    public async Task XOAuth2PassesTheTokenToTheCallback()
    {
        SmtpAuthentication? seen = null;
        await using var server = StartServer(configure: o => o.Authenticate = (_, credentials, _) =>
        {
            seen = credentials;
            return ValueTask.FromResult(credentials.Token == Token ? SmtpVerdict.Accept : SmtpVerdict.Reject("bad token"));
        });
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandAsync("AUTH XOAUTH2 " + B64($"user={User}\u0001auth=Bearer {Token}\u0001\u0001")));
        Assert.Equal(("XOAUTH2", User, Token, (string?)null), (seen!.Mechanism, seen.Identity, seen.Token, seen.Password));
    }

    [Fact]
    public async Task OAuthBearerPassesTheTokenAndAuthorizationIdentity()
    {
        SmtpAuthentication? seen = null;
        await using var server = StartServer(configure: o => o.Authenticate = (_, credentials, _) =>
        {
            seen = credentials;
            return ValueTask.FromResult(SmtpVerdict.Accept);
        });
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("334 ", await client.CommandAsync("AUTH OAUTHBEARER"));
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandAsync(B64($"n,a={User},\u0001host=server.example\u0001port=587\u0001auth=Bearer {Token}\u0001\u0001")));
        Assert.Equal(("OAUTHBEARER", User, Token), (seen!.Mechanism, seen.Identity, seen.Token));
    }

    [Theory]
    [InlineData("AUTH PLAIN !!!notbase64", "501 5.5.2 Cannot decode response: invalid base64")]
    [InlineData("AUTH PLAIN dXNlcg==", "501 5.5.2 Malformed authentication response")]
    [InlineData("AUTH XOAUTH2 dXNlcg==", "501 5.5.2 Malformed authentication response")]
    [InlineData("AUTH KERBEROS_V9", "504 5.5.4 Unrecognized authentication type")]
    [InlineData("AUTH", "501 5.5.4 Syntax error: use AUTH mechanism [initial-response]")]
    public async Task MalformedAuthenticationGetsItsErrorReply(string command, string expected)
    {
        await using var server = StartServer();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal(expected, await client.CommandAsync(command));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task TheClientCanCancelWithAStar()
    {
        await using var server = StartServer();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("334 VXNlcm5hbWU6", await client.CommandAsync("AUTH LOGIN"));
        Assert.Equal("501 5.0.0 Authentication cancelled", await client.CommandAsync("*"));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task WrongCredentialsGet535()
    {
        await using var server = StartServer();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("535 5.7.8 Authentication credentials invalid", await client.CommandAsync("AUTH PLAIN " + Plain("", User, "wrong")));
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandAsync("AUTH PLAIN " + Plain("", User, Password)));
    }

    [Fact]
    public async Task AuthDuringATransactionOrAfterSuccessGets503()
    {
        await using var server = StartServer();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.Equal("503 5.5.1 Bad sequence of commands: AUTH not allowed during a mail transaction", await client.CommandAsync("AUTH PLAIN " + Plain("", User, Password)));
        Assert.StartsWith("250", await client.CommandAsync("RSET"));
        Assert.StartsWith("235", await client.CommandAsync("AUTH PLAIN " + Plain("", User, Password)));
        Assert.Equal("503 5.5.1 Bad sequence of commands: already authenticated", await client.CommandAsync("AUTH PLAIN " + Plain("", User, Password)));
    }

    [Fact]
    public async Task TooManyFailuresEndTheSessionWith421()
    {
        await using var server = StartServer(configure: o => o.MaxAuthFailures = 2);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("535", await client.CommandAsync("AUTH PLAIN " + Plain("", User, "one")));
        await client.SendAsync("AUTH PLAIN " + Plain("", User, "two") + "\r\n");
        Assert.StartsWith("535", await client.ReadReplyAsync());
        Assert.Equal("421 4.7.0 Too many authentication failures, closing connection", await client.ReadReplyAsync());
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task AnOverlongSaslLineIsRejectedWithoutBeingBuffered()
    {
        await using var server = StartServer();
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("334", await client.CommandAsync("AUTH PLAIN"));
        Assert.Equal("500 5.5.6 Authentication exchange line too long (RFC 4954 4)", await client.CommandAsync(new string('A', 100_000)));
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task AnInitialResponseUpTo12288OctetsIsAcceptedWhileOtherCommandsKeepTheir512Limit()
    {
        await using var server = StartServer(configure: o => o.Authenticate = (_, c, _) => ValueTask.FromResult(c.Token?.Length == 9000 ? SmtpVerdict.Accept : SmtpVerdict.Reject()));
        await using var client = await server.ConnectAndEhloAsync();
        Assert.StartsWith("500 5.5.2 Line too long", await client.CommandAsync("NOOP " + new string('x', 600)));
        Assert.Equal("235 2.7.0 Authentication successful", await client.CommandAsync("AUTH XOAUTH2 " + B64($"user={User}\u0001auth=Bearer {new string('t', 9000)}\u0001\u0001")));
    }

    [Theory]
    [InlineData("ali\r\nce")]
    [InlineData("ali\nce")]
    [InlineData("ali\rce")]
    public async Task IdentitiesWithLineBreaksAreRefusedBeforeTheCallback(string identity)
    {
        var calls = 0;
        await using var server = StartServer(configure: o => o.Authenticate = (_, _, _) =>
        {
            Interlocked.Increment(ref calls);
            return ValueTask.FromResult(SmtpVerdict.Accept);
        });
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("501 5.5.2 Identity must not contain CR, LF or NUL", await client.CommandAsync("AUTH PLAIN " + Plain("", identity, Password)));
        Assert.Equal("334 UGFzc3dvcmQ6", await client.CommandAsync("AUTH LOGIN " + B64(identity + "\0x")));
        Assert.Equal("501 5.5.2 Identity must not contain CR, LF or NUL", await client.CommandAsync(B64(Password)));
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task RequireAuthRefusesMailBeforeAuthentication()
    {
        await using var server = StartServer(configure: o => o.RequireAuth = true);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("530 5.7.0 Authentication required", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("235", await client.CommandAsync("AUTH PLAIN " + Plain("", User, Password)));
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example> AUTH=<>"));
    }

    [Fact]
    public async Task AnAuthenticatorThatThrowsGets451()
    {
        await using var server = StartServer(configure: o => o.Authenticate = (_, _, _) => throw new InvalidOperationException("directory down"));
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("451 4.3.0 Requested action aborted: local error in processing", await client.CommandAsync("AUTH PLAIN " + Plain("", User, Password)));
    }

    [Fact]
    public async Task PasswordsAndTheirBase64NeverReachTheLogsAtAnyLevel()
    {
        using var logs = new CapturingLoggerProvider();
        var options = new SmtpServerOptions { AllowInsecureAuth = true, Authenticate = Check };
        await using (var server = new SmtpServer(options, logs))
        {
            server.Start(IPAddress.Loopback, 0);
            var (client, _) = await RawSmtpClient.ConnectAndGreetAsync(server.Endpoints[0]);
            await using (client)
            {
                await client.CommandAsync("EHLO client.test");
                await client.CommandAsync("AUTH PLAIN " + Plain("", User, "wrong-" + Password));
                await client.CommandAsync("AUTH LOGIN");
                await client.CommandAsync(B64(User));
                await client.CommandAsync(B64(Password));
                await client.CommandAsync("QUIT");
            }
        }

        var secrets = new[] { Password, B64(Password), Plain("", User, Password), Plain("", User, "wrong-" + Password), "wrong-" + Password };
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Trace && e.Message.StartsWith("C: AUTH PLAIN", StringComparison.Ordinal));
        Assert.All(logs.Entries, e => Assert.DoesNotContain(secrets, secret => e.Message.Contains(secret, StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(SmtpAuthenticationMechanisms.Plain)]
    [InlineData(SmtpAuthenticationMechanisms.Login)]
    [InlineData(SmtpAuthenticationMechanisms.CramMd5)]
    public async Task MailKitAuthenticatesOverStartTlsWithEachPasswordMechanism(SmtpAuthenticationMechanisms mechanism)
    {
        await using var server = StartServer(allowInsecure: false, configure: o => o.AuthenticationMechanisms = mechanism);
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("localhost", server.Port, SecureSocketOptions.StartTls, TestContext.Current.CancellationToken);
        await client.AuthenticateAsync(User, Password, TestContext.Current.CancellationToken);
        await client.SendAsync(TlsTests.Message("authenticated"), TestContext.Current.CancellationToken);
        await client.DisconnectAsync(true, TestContext.Current.CancellationToken);
        var message = await server.WaitForMessageAsync();
        Assert.Equal(User, message.Session.AuthenticatedIdentity);
        Assert.Equal(mechanism switch { SmtpAuthenticationMechanisms.Plain => "PLAIN", SmtpAuthenticationMechanisms.Login => "LOGIN", _ => "CRAM-MD5" }, message.Session.AuthenticationMechanism);
    }

    [Fact]
    public async Task MailKitGetsAnAuthenticationExceptionForWrongCredentials()
    {
        await using var server = StartServer();
        using var client = new SmtpClient();
        await client.ConnectAsync("localhost", server.Port, SecureSocketOptions.None, TestContext.Current.CancellationToken);
        var error = await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync(User, "wrong", TestContext.Current.CancellationToken));
        Assert.Contains("invalid", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task MailKitAuthenticatesWithOAuthTokens(bool oauthBearer)
    {
        await using var server = StartServer(configure: o => o.Authenticate = (_, c, _) => ValueTask.FromResult(c.Token == Token && c.Identity == User ? SmtpVerdict.Accept : SmtpVerdict.Reject()));
        using var client = new SmtpClient();
        await client.ConnectAsync("localhost", server.Port, SecureSocketOptions.None, TestContext.Current.CancellationToken);
        SaslMechanism sasl = oauthBearer
            ? new SaslMechanismOAuthBearer(User, Token)
            : new SaslMechanismOAuth2(User, Token);
        await client.AuthenticateAsync(sasl, TestContext.Current.CancellationToken);
        Assert.True(client.IsAuthenticated);
    }

    [Fact]
    public async Task SystemNetMailAuthenticatesOverTls()
    {
        await using var server = StartServer(allowInsecure: false);
#pragma warning disable SYSLIB0014 // System.Net.Mail.SmtpClient reads its certificate policy from ServicePointManager.
        ServicePointManager.ServerCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore SYSLIB0014
        using var client = new System.Net.Mail.SmtpClient("localhost", server.Port) { EnableSsl = true, Credentials = new NetworkCredential(User, Password) };
        await client.SendMailAsync(new System.Net.Mail.MailMessage("from@example.com", "to@example.com", "auth", "body"), TestContext.Current.CancellationToken);
        Assert.Equal(User, (await server.WaitForMessageAsync()).Session.AuthenticatedIdentity);
    }

    private static TestServer StartServer(bool allowInsecure = true, Action<SmtpServerOptions>? configure = null) =>
        TestServer.Start(o =>
        {
            o.ServerCertificate = TestCertificates.Localhost;
            o.AllowInsecureAuth = allowInsecure;
            o.Authenticate = Check;
            configure?.Invoke(o);
        });

    private static ValueTask<SmtpVerdict> Check(SmtpSessionContext session, SmtpAuthentication credentials, CancellationToken cancellationToken) =>
        ValueTask.FromResult(credentials.Identity == User && (credentials.Password == Password || credentials.VerifyCramMd5(Password)) ? SmtpVerdict.Accept : SmtpVerdict.Reject("bad password"));

    private static async Task SendOneMessageAsync(RawSmtpClient client)
    {
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<a@b.example>"));
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<r@b.example>"));
        Assert.StartsWith("354", await client.CommandAsync("DATA"));
        Assert.StartsWith("250", await client.CommandAsync("x\r\n."));
    }

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string Plain(string authorization, string user, string password) => B64($"{authorization}\0{user}\0{password}");

#pragma warning disable CA5351 // RFC 2195 CRAM-MD5 is defined with HMAC-MD5.
    private static string CramDigest(string challenge, string password) =>
        Convert.ToHexStringLower(HMACMD5.HashData(Encoding.UTF8.GetBytes(password), Encoding.ASCII.GetBytes(challenge)));
#pragma warning restore CA5351
}
