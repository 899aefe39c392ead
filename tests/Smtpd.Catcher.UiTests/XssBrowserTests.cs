using Microsoft.Playwright;
using MimeKit;
using Smtpd.Catcher.UiTests.Support;
using static Microsoft.Playwright.Assertions;

namespace Smtpd.Catcher.UiTests;

/// <summary>Hostile mail shown in the inbox: every payload stays text or stays in the sandbox.</summary>
public sealed class XssBrowserTests(BrowserFixture browser)
{
    // Each payload, if it ever ran, would set window.__xss and open an alert.
    private const string SubjectPayload = "<img src=x onerror=\"window.__xss='subject';alert('subject')\">Invoice";
    private const string NamePayload = "<script>window.__xss='name';alert('name')</script>Mallory";
    private const string FilePayload = "\"><img src=x onerror=\"window.__xss='file';alert('file')\">.txt";
    private const string HeaderPayload = "<svg onload=\"window.__xss='header';alert('header')\"></svg>";
    private const string BodyPayload = "<script>parent.__xss='body';alert('body')</script><img src=x onerror=\"parent.__xss='body-img'\"><p id=\"body\">Body</p>" +
        "<a id=\"link\" href=\"javascript:parent.__xss='link'\">click</a>";

    static XssBrowserTests() => SetDefaultExpectTimeout(15_000);

    [Fact]
    public async Task PayloadsInTheSubjectFromNameFilenameHeaderAndHtmlBodyRunNoScriptAndLeaveThePageUnchanged()
    {
        await using var host = await CatcherHost.StartAsync();
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(NamePayload, "mallory@example.com"));
        message.To.Add(MailboxAddress.Parse("bob@example.com"));
        message.Subject = SubjectPayload;
        message.Headers.Add("X-Payload", HeaderPayload);
        var builder = new BodyBuilder { TextBody = "<script>alert('text')</script>", HtmlBody = BodyPayload };
        builder.Attachments.Add(FilePayload, "attached"u8.ToArray(), new ContentType("text", "plain"));
        message.Body = builder.ToMessageBody();
        await host.SendAsync(message);

        var page = await browser.NewPageAsync();
        var dialogs = new List<string>();
        page.Dialog += async (_, dialog) =>
        {
            dialogs.Add(dialog.Message);
            await dialog.DismissAsync();
        };
        var violations = new List<string>();
        page.Console += (_, console) =>
        {
            // The view's own policy blocking the message's javascript: link inside the sandbox is the defence working;
            // a violation reported by the inbox page itself would mean message content reached it as markup.
            if (console.Text.Contains("Content Security Policy", StringComparison.Ordinal) && !console.Location.Contains("/view/", StringComparison.Ordinal))
            {
                violations.Add(console.Text);
            }
        };
        await page.GotoAsync(host.Root.ToString());
        var row = page.Locator(".row:not(.loading):not([hidden])").First;
        await Expect(row.Locator(".subject")).ToHaveTextAsync(SubjectPayload);
        await Expect(row.Locator(".from")).ToHaveTextAsync(NamePayload);
        var elementsBefore = await CountInjectableAsync(page);

        await row.Locator("a.open").ClickAsync();
        await Expect(page.Locator("#msg-subject")).ToHaveTextAsync(SubjectPayload);
        await Expect(page.FrameLocator("#msg-frame").Locator("#body")).ToHaveTextAsync("Body");
        await page.FrameLocator("#msg-frame").Locator("#link").ClickAsync(new() { Timeout = 5_000 });
        foreach (var tab in new[] { "text", "source", "headers", "attachments", "envelope", "links" })
        {
            await page.Locator($"#tab-{tab}").ClickAsync();
            await Expect(page.Locator($"#panel-{tab}")).ToBeVisibleAsync();
        }

        await Expect(page.Locator("#msg-headers")).ToContainTextAsync(HeaderPayload);
        await Expect(page.Locator("#msg-files")).ToContainTextAsync(FilePayload);
        await Expect(page.Locator("#msg-meta")).ToContainTextAsync(NamePayload);
        await Expect(page.Locator("#msg-source")).ToContainTextAsync("X-Payload");

        Assert.Empty(dialogs);
        Assert.Null(await page.EvaluateAsync<string?>("window.__xss ?? null"));
        // Nothing from the message became an element of the page: no new img, svg or script, no handler attribute.
        Assert.Equal(elementsBefore, await CountInjectableAsync(page));
        Assert.Equal(0, await page.EvaluateAsync<int>("document.querySelectorAll('[onerror],[onload],[onclick]').length"));
        Assert.Equal(0, await page.EvaluateAsync<int>("document.querySelectorAll('script:not([src])').length"));
        Assert.Empty(violations);
        await BrowserFixture.ScreenshotAsync(page, "xss");
    }

    [Fact]
    public async Task AMailboxNameFromTheAddressIsShownAsTextAndRunsNothing()
    {
        // Configured names are letters, digits, '.', '_' and '-', but ?mailbox= in a shared link is anyone's text.
        const string MailboxPayload = "<img src=x onerror=\"window.__xss='mailbox';alert('mailbox')\">dev";
        await using var host = await CatcherHost.StartAsync(configure: options => options.Mailboxes.Add(Mailboxes.MailboxRule.Parse("dev=to:@dev.example")));
        await host.SendAsync("Still listed");
        var page = await browser.NewPageAsync();
        var dialogs = new List<string>();
        page.Dialog += async (_, dialog) =>
        {
            dialogs.Add(dialog.Message);
            await dialog.DismissAsync();
        };

        await page.GotoAsync(host.Root + "?mailbox=" + Uri.EscapeDataString(MailboxPayload));

        await Expect(page.Locator("#toast")).ToHaveTextAsync($"There is no mailbox named “{MailboxPayload}”; showing all messages.");
        await Expect(page.Locator(".row:not(.loading):not([hidden])")).ToHaveCountAsync(1);
        await Expect(page.Locator("#mailbox")).ToHaveValueAsync(string.Empty);
        await Expect(page).ToHaveURLAsync(host.Root.ToString());
        Assert.Empty(dialogs);
        Assert.Null(await page.EvaluateAsync<string?>("window.__xss ?? null"));
        Assert.Equal(0, await page.EvaluateAsync<int>("document.querySelectorAll('[onerror]').length"));
    }

    // img elements of the page itself (thumbnails are created only for raster attachments), svg and script.
    private static Task<int> CountInjectableAsync(IPage page) =>
        page.EvaluateAsync<int>("document.querySelectorAll('img:not(.thumb):not(.brand img), svg, script').length");
}
