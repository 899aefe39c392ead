using System.Collections.Concurrent;
using System.Text;

namespace Smtpd.Tests.Adversarial;

/// <summary>
/// AUTH (RFC 4954) misuse beyond <c>Integration/AuthTests</c>: commands typed where a SASL response is expected,
/// cancels and bad base64 at every step, identities built to inject, failures spread over mechanisms, and the error
/// limit. The exchange runs over plaintext with <c>AllowInsecureAuth</c> so the octets are visible; the plaintext
/// refusal (538) is in AuthTests.
/// </summary>
public sealed class AuthMisuseTests
{
    private const string User = "alice";
    private const string Password = "correct horse";

    [Fact]
    public async Task CommandsSentAsSaslResponsesAreNeverExecuted()
    {
        var attempts = new ConcurrentQueue<SmtpAuthentication>();
        await using var server = StartServer(attempts);
        // "QUIT" and "STARTTLS" are valid base64: they become the user name and the password, not commands.
        var script = "EHLO client.test\r\nAUTH LOGIN\r\nQUIT\r\nSTARTTLS\r\nAUTH PLAIN\r\nMAIL FROM:<a@b.example>\r\nNOOP\r\nQUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Wire.AssertWellFormed(transcript);
        Assert.Equal(
            [
                "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "535 5.7.8 Authentication credentials invalid",
                "334 ", "501 5.5.2 Cannot decode response: invalid base64", "250 2.0.0 OK", "221 2.0.0 Bye",
            ],
            transcript.Replies[1..]);
        var attempt = Assert.Single(attempts);
        Assert.Equal(Encoding.UTF8.GetString(Convert.FromBase64String("QUIT")), attempt.Identity);
        Assert.Equal(Encoding.UTF8.GetString(Convert.FromBase64String("STARTTLS")), attempt.Password);
    }

    [Theory]
    [InlineData("AUTH LOGIN\r\n*\r\n", new[] { "334 VXNlcm5hbWU6", "501 5.0.0 Authentication cancelled" })]
    [InlineData("AUTH LOGIN\r\nYWxpY2U=\r\n*\r\n", new[] { "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "501 5.0.0 Authentication cancelled" })]
    [InlineData("AUTH LOGIN\r\nYWxpY2U=\r\n!!!\r\n", new[] { "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "501 5.5.2 Cannot decode response: invalid base64" })]
    [InlineData("AUTH PLAIN *\r\n", new[] { "501 5.0.0 Authentication cancelled" })]
    [InlineData("AUTH PLAIN =\r\n", new[] { "501 5.5.2 Malformed authentication response" })]
    [InlineData("AUTH PLAIN\r\n\r\n", new[] { "334 ", "501 5.5.2 Malformed authentication response" })]
    [InlineData("AUTH PLAIN AGFsaWNlAHg=\0\r\n", new[] { "501 5.5.2 Syntax error: invalid characters in command" })]
    [InlineData("AUTH PLAIN\r\nAGFsaWNlAHgAeQ==\r\n", new[] { "334 ", "501 5.5.2 Malformed authentication response" })]
    [InlineData("AUTH CRAM-MD5 Zm9v\r\n", new[] { "504 5.5.4 Unrecognized authentication type" })]
    [InlineData("AUTH PLAIN a b\r\n", new[] { "501 5.5.4 Syntax error: use AUTH mechanism [initial-response]" })]
    [InlineData("AUTH PLAIN_WITH_A_VERY_LONG_NAME_X\r\n", new[] { "501 5.5.4 Syntax error: use AUTH mechanism [initial-response]" })]
    public async Task CancelsAndGarbageAtEveryStepEndTheExchangeWithoutCallingTheAuthenticator(string exchange, string[] expected)
    {
        var attempts = new ConcurrentQueue<SmtpAuthentication>();
        await using var server = StartServer(attempts);

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes("EHLO client.test\r\n" + exchange + "NOOP\r\nQUIT\r\n"));

        Wire.AssertWellFormed(transcript);
        Assert.Equal([.. expected, "250 2.0.0 OK", "221 2.0.0 Bye"], transcript.Replies[1..]);
        Assert.Empty(attempts);
    }

    [Theory]
    [InlineData("\0ali\0ce\0" + Password)]
    [InlineData("admin\r\nX-Injected: yes\0" + User + "\0" + Password)]
    [InlineData("\0" + User + "\r\n\0" + Password)]
    public async Task PlainIdentitiesBuiltToInjectAreRefusedBeforeTheCallback(string payload)
    {
        var attempts = new ConcurrentQueue<SmtpAuthentication>();
        await using var server = StartServer(attempts);
        var response = Convert.ToBase64String(Encoding.UTF8.GetBytes(payload));

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes($"EHLO client.test\r\nAUTH PLAIN {response}\r\nQUIT\r\n"));

        Assert.Single(transcript.Replies[1..^1]);
        Assert.StartsWith("501 5.5.2 ", transcript.Replies[1], StringComparison.Ordinal);
        Assert.Empty(attempts);
    }

    [Fact]
    public async Task ALoginUserNameWithANulIsRefusedBeforeTheCallback()
    {
        var attempts = new ConcurrentQueue<SmtpAuthentication>();
        await using var server = StartServer(attempts);
        var user = Convert.ToBase64String(Encoding.UTF8.GetBytes("alice\0admin"));
        var password = Convert.ToBase64String(Encoding.UTF8.GetBytes(Password));

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes($"EHLO client.test\r\nAUTH LOGIN\r\n{user}\r\n{password}\r\nQUIT\r\n"));

        Assert.Equal(["334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "501 5.5.2 Identity must not contain CR, LF or NUL", "221 2.0.0 Bye"], transcript.Replies[1..]);
        Assert.Empty(attempts);
    }

    [Fact]
    public async Task FailuresWithDifferentMechanismsAddUpToTheLimit()
    {
        var attempts = new ConcurrentQueue<SmtpAuthentication>();
        await using var server = StartServer(attempts);
        string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
        var script = "EHLO client.test\r\n"
            + $"AUTH PLAIN {B64($"\0{User}\0wrong")}\r\n"
            + $"AUTH LOGIN {B64(User)}\r\n{B64("wrong")}\r\n"
            + $"AUTH XOAUTH2 {B64($"user={User}\u0001auth=Bearer wrong\u0001\u0001")}\r\n"
            + $"AUTH PLAIN {B64($"\0{User}\0{Password}")}\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Assert.Equal(
            [
                "535 5.7.8 Authentication credentials invalid", "334 UGFzc3dvcmQ6", "535 5.7.8 Authentication credentials invalid",
                "535 5.7.8 Authentication credentials invalid", "421 4.7.0 Too many authentication failures, closing connection",
            ],
            transcript.Replies[1..]);
        Assert.Equal(3, attempts.Count);
    }

    [Fact]
    public async Task MalformedAuthExchangesCountAsErrorsAndHitTheErrorLimit()
    {
        var attempts = new ConcurrentQueue<SmtpAuthentication>();
        await using var server = StartServer(attempts, o => o.MaxErrors = 4);
        var script = "EHLO client.test\r\nAUTH PLAIN !!!\r\nAUTH LOGIN\r\n*\r\nAUTH NOSUCH\r\nAUTH PLAIN =\r\nNOOP\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        Assert.Equal(
            [
                "501 5.5.2 Cannot decode response: invalid base64", "334 VXNlcm5hbWU6", "501 5.0.0 Authentication cancelled",
                "504 5.5.4 Unrecognized authentication type", "501 5.5.2 Malformed authentication response",
                "421 4.7.0 Too many errors, closing connection",
            ],
            transcript.Replies[1..]);
        Assert.Empty(attempts);
    }

    [Fact]
    public async Task AnAuthenticatedSessionCannotAuthenticateAgainOrSwitchIdentity()
    {
        var attempts = new ConcurrentQueue<SmtpAuthentication>();
        await using var server = StartServer(attempts);
        string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
        var script = "EHLO client.test\r\n"
            + $"AUTH PLAIN {Plain(User, Password)}\r\n"
            + $"AUTH PLAIN {Plain("root", Password)}\r\n"
            + "EHLO client.test\r\n"
            + $"AUTH PLAIN {Plain("root", Password)}\r\n"
            + "MAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n";

        var (_, transcript) = await Wire.RunAsync(server.EndPoint, Wire.Bytes(script));

        var replies = transcript.Replies[1..];
        Assert.Equal(["235 2.7.0 Authentication successful", "503 5.5.1 Bad sequence of commands: already authenticated"], replies[..2]);
        Assert.DoesNotContain("AUTH", replies[2], StringComparison.Ordinal);
        Assert.Equal("503 5.5.1 Bad sequence of commands: already authenticated", replies[3]);
        Assert.Equal(User, Assert.Single(server.Messages).Session.AuthenticatedIdentity);
        Assert.Single(attempts);
    }

    private static TestServer StartServer(ConcurrentQueue<SmtpAuthentication> attempts, Action<SmtpServerOptions>? configure = null) =>
        TestServer.Start(o =>
        {
            o.AllowInsecureAuth = true;
            o.Authenticate = (_, credentials, _) =>
            {
                attempts.Enqueue(credentials);
                return ValueTask.FromResult(credentials.Identity == User && (credentials.Password == Password || credentials.Token == Password)
                    ? SmtpVerdict.Accept
                    : SmtpVerdict.Reject());
            };
            configure?.Invoke(o);
        });
}
