using Smtpd.Catcher.Http.Security;

namespace Smtpd.Catcher.Tests.Http.Security;

public sealed class HtpasswdTests
{
    private static CatcherHttpSecurityOptions Load(string text)
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddHtpasswd(new StringReader(text), "ui.htpasswd");
        return options;
    }

    [Fact]
    public void ApacheStyle2yHashesVerify()
    {
        var users = new HttpBasicUsers();
        users.AddBcrypt("rasmus", BasicAuthenticationTests.PhpManualHash);
        Assert.True(users.Verify("rasmus", "rasmuslerdorf"));
        Assert.False(users.Verify("rasmus", "rasmuslerdorf "));
    }

    [Theory]
    [InlineData('a')]
    [InlineData('b')]
    [InlineData('y')]
    public void EveryAcceptedBcryptVersionVerifiesFromAFile(char revision)
    {
        var hash = BCrypt.Net.BCrypt.HashPassword("pa:ss word", BCrypt.Net.BCrypt.GenerateSalt(4, revision));
        Assert.StartsWith($"$2{revision}$04$", hash, StringComparison.Ordinal);
        var options = Load($"# UI users\n\nalice:{hash}\r\n");
        Assert.Equal(["alice"], options.UserNames);
        Assert.True(options.Users.Verify("alice", "pa:ss word"));
        Assert.False(options.Users.Verify("alice", "pa:ss wordx"));
        Assert.False(options.Users.Verify("bob", "pa:ss word"));
    }

    [Theory]
    [InlineData("bob:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "Apache MD5 ($apr1$)")]
    [InlineData("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1 ({SHA})")]
    [InlineData("bob:$6$salt$abc", "SHA-512-crypt ($6$)")]
    [InlineData("bob:rqXexS6ZhobKA", "plain text or crypt(3)")]
    [InlineData("bob:password", "plain text or crypt(3)")]
    public void OtherSchemesAreRefusedNamingTheFileLineUserAndScheme(string line, string scheme)
    {
        var error = Assert.Throws<FormatException>(() => Load($"alice:{BasicAuthenticationTests.PhpManualHash}\n{line}\n"));
        Assert.Equal($"ui.htpasswd line 2 gives user 'bob' a {scheme} password; only bcrypt ($2y$, $2a$, $2b$) is accepted: regenerate it with 'htpasswd -B'.", error.Message);
    }

    [Theory]
    [InlineData("bob:$2y$10$tooShort")]
    [InlineData("bob:$2y$03$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a")]
    [InlineData("bob:$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1!")]
    public void AMalformedBcryptHashIsRefusedAtLoadNotAtLogin(string line)
    {
        var error = Assert.Throws<FormatException>(() => Load(line));
        Assert.StartsWith("ui.htpasswd line 1 gives user 'bob' a malformed bcrypt hash", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("no-colon-here")]
    [InlineData(":$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a")]
    public void ALineWithoutAUserIsRefused(string line)
    {
        var error = Assert.Throws<FormatException>(() => Load(line));
        Assert.Equal("ui.htpasswd line 1 is not user:hash.", error.Message);
    }

    [Fact]
    public void AFileIsReadFromDiskAndNamedInErrors()
    {
        var path = Path.Combine(Path.GetTempPath(), $"smtpd-{Guid.NewGuid():N}.htpasswd");
        File.WriteAllText(path, "carol:$apr1$x$y\n");
        try
        {
            var error = Assert.Throws<FormatException>(() => new CatcherHttpSecurityOptions().AddHtpasswdFile(path));
            Assert.StartsWith($"{path} line 1 gives user 'carol'", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AnUnknownUserCostsABcryptCheckWhenTheFileHasBcryptUsers()
    {
        var users = new HttpBasicUsers();
        users.AddBcrypt("alice", BCrypt.Net.BCrypt.HashPassword("pw", 4));
        Assert.False(users.Verify("mallory", "pw"));
        Assert.True(users.Verify("alice", "pw"));
    }
}
