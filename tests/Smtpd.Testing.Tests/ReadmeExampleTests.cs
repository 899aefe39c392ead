using MailKit.Security;

namespace Smtpd.Testing.Tests;

// The README shows application code, which has no xunit cancellation token to pass.
#pragma warning disable xUnit1051

/// <summary>The README's "Testing your application" example, verbatim, so that it cannot drift from the API.</summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public async Task TheReadmeExampleRunsAsWritten()
    {
        var welcome = Mail.Create(from: "noreply@app.example", to: "bob@example.com", subject: "Welcome", body: "Confirm at https://app.example/confirm?token=1\r\n");

        await using var smtp = await SmtpTestServer.StartAsync();

        // MailKit, as the application under test would send
        using (var mailKit = new MailKit.Net.Smtp.SmtpClient())
        {
            await mailKit.ConnectAsync(smtp.Host, smtp.Port, SecureSocketOptions.None);
            await mailKit.SendAsync(welcome);    // a MimeMessage to bob@example.com with a confirmation link
            await mailKit.DisconnectAsync(true);
        }

        var toBob = await smtp.WaitForMessageAsync(m => m.IsTo("bob@example.com"));   // completes the moment it arrives
        Assert.Equal("/confirm", toBob.GetFirstLink().AbsolutePath);

        // System.Net.Mail
        using var client = new System.Net.Mail.SmtpClient(smtp.Host, smtp.Port);
        await client.SendMailAsync("noreply@app.example", "carol@example.com", "Sign-in code", "Your code is 042917.");

        var toCarol = await smtp.WaitForMessageAsync(m => m.IsTo("carol@example.com"));
        Assert.Equal("042917", toCarol.GetCode());
        smtp.Messages.AssertNoMessageTo("mallory@example.com");
    }
}
