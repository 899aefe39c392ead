namespace Smtpd.Testing.Tests;

public sealed class AssertionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AssertMessageToFindsTheMessageOrListsWhatArrived()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await Mail.SendAsync(smtp, Mail.Create(to: "bob@example.com", subject: "Welcome"));

        Assert.Equal("Welcome", smtp.Messages.AssertMessageTo("BOB@example.com").Subject);
        Assert.Equal("Welcome", smtp.Messages.AssertMessageTo("bob@example.com", m => m.Subject == "Welcome").Subject);

        var missing = Assert.Throws<SmtpAssertionException>(() => smtp.Messages.AssertMessageTo("carol@example.com"));
        Assert.Equal(
            """
            Expected a message to carol@example.com, but 1 message arrived:
              1. alice@example.com -> bob@example.com: "Welcome"
            """.ReplaceLineEndings(),
            missing.Message);
        var unmatched = Assert.Throws<SmtpAssertionException>(() => smtp.Messages.AssertMessageTo("bob@example.com", m => m.Subject == "Bye"));
        Assert.StartsWith("Expected a message to bob@example.com matching the condition, but 1 message arrived:", unmatched.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AssertNoMessageToAndAssertCountFailWithTheList()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        smtp.Messages.AssertNoMessageTo("bob@example.com");
        smtp.Messages.AssertCount(0);

        await Mail.SendAsync(smtp);

        var error = Assert.Throws<SmtpAssertionException>(() => smtp.Messages.AssertNoMessageTo("bob@example.com"));
        Assert.StartsWith("Expected no message to bob@example.com, but 1 message arrived:", error.Message, StringComparison.Ordinal);
        Assert.Single(smtp.Messages.AssertCount(1));
        Assert.StartsWith("Expected 2 messages, but 1 message arrived:", Assert.Throws<SmtpAssertionException>(() => smtp.Messages.AssertCount(2)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheFirstLinkComesFromTheHtmlHrefWithEntitiesDecoded()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await Mail.SendAsync(smtp, Mail.Create(
            body: "Plain: https://plain.example/ignored",
            html: "<p><a href='mailto:help@example.com'>help</a> <a class=\"btn\" href=\"https://app.example/confirm?token=abc&amp;user=7\">Confirm</a> <a href=\"https://app.example/unsubscribe\">x</a></p>"));

        var message = Assert.Single(smtp.Messages);

        Assert.Equal(new Uri("https://app.example/confirm?token=abc&user=7"), message.FindFirstLink());
        Assert.Equal(new Uri("https://app.example/unsubscribe"), message.GetFirstLink(u => u.AbsolutePath == "/unsubscribe"));
        Assert.Equal(new Uri("https://plain.example/ignored"), message.FindFirstLink(u => u.Host == "plain.example"));
    }

    [Fact]
    public async Task InAPlainTextMessageTheFirstUrlIsTheLinkWithoutTrailingPunctuation()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await Mail.SendAsync(smtp, Mail.Create(body: "Hi! Confirm at https://app.example/c/XYZ. Thanks (see http://docs.example/help)."));

        var message = Assert.Single(smtp.Messages);

        Assert.Equal(new Uri("https://app.example/c/XYZ"), message.GetFirstLink());
        Assert.Equal(new Uri("http://docs.example/help"), message.GetFirstLink(u => u.Scheme == "http"));
        Assert.Null(message.FindFirstLink(u => u.Host == "nowhere.example"));
    }

    [Fact]
    public async Task GetFirstLinkFailsWithTheBody()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await Mail.SendAsync(smtp, Mail.Create(subject: "No links", body: "Nothing to click here."));

        var error = Assert.Throws<SmtpAssertionException>(() => Assert.Single(smtp.Messages).GetFirstLink());

        Assert.Equal("No http(s) link in alice@example.com -> bob@example.com: \"No links\". Body: Nothing to click here.", error.Message);
    }

    [Fact]
    public async Task TheCodeIsTheFirstStandaloneNumberOutsideLinks()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await Mail.SendAsync(smtp, Mail.Create(
            subject: "Your code",
            body: "Order 1234567 at https://app.example/otp/654321 - your code is 042917. Valid for 10 minutes."));

        var message = Assert.Single(smtp.Messages);

        Assert.Equal("042917", message.GetCode());
        Assert.Equal("1234567", message.FindCode(4, 8));
        Assert.Equal("10", message.FindCode(2, 2));
    }

    [Fact]
    public async Task TheCodeIsFoundInHtmlOnlyMailsAndInTheSubject()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        var html = Mail.Create(subject: "Sign-in", body: null!, html: "<style>.x{width:123456px}</style><p>Your code: <b>987654</b></p>");
        await Mail.SendAsync(smtp, html);
        await Mail.SendAsync(smtp, Mail.Create(subject: "Your code is 555123", body: "See the subject."));

        Assert.Equal("987654", smtp.Messages[0].GetCode());
        Assert.Equal("Your code: 987654", smtp.Messages[0].Text.Trim());
        Assert.Equal("555123", smtp.Messages[1].GetCode());
    }

    [Fact]
    public async Task GetCodeFailsWithTheBody()
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: Ct);
        await Mail.SendAsync(smtp, Mail.Create(subject: "Hi", body: "Only 12345 here."));

        var message = Assert.Single(smtp.Messages);

        Assert.Null(message.FindCode());
        Assert.Equal("No 6-digit code in alice@example.com -> bob@example.com: \"Hi\". Body: Only 12345 here.", Assert.Throws<SmtpAssertionException>(() => message.GetCode()).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => message.FindCode(0, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => message.FindCode(6, 4));
    }
}
