using System.Text.RegularExpressions;
using Microsoft.Playwright;
using MimeKit;
using Smtpd.Catcher.Mailboxes;
using Smtpd.Catcher.UiTests.Support;
using static Microsoft.Playwright.Assertions;

namespace Smtpd.Catcher.UiTests;

/// <summary>The mailbox switcher of issue 15 in a real browser, against a catcher with named mailboxes.</summary>
public sealed class MailboxBrowserTests(BrowserFixture browser)
{
    static MailboxBrowserTests() => SetDefaultExpectTimeout(15_000);

    private static ILocator Rows(IPage page) => page.Locator(".row:not(.loading):not([hidden])");

    private static ILocator Row(IPage page, string subject) => Rows(page).Filter(new() { HasText = subject });

    private static ILocator Switcher(IPage page) => page.GetByRole(AriaRole.Combobox, new() { Name = "Mailbox" });

    /// <summary>A catcher with two mailboxes: dev (to:@dev.example) and ops (to:@ops.example).</summary>
    private static Task<CatcherHost> StartWithTwoMailboxesAsync() => CatcherHost.StartAsync(configure: options =>
    {
        options.Mailboxes.Add(MailboxRule.Parse("dev=to:@dev.example"));
        options.Mailboxes.Add(MailboxRule.Parse("ops=to:@ops.example"));
    });

    private static Task SendToAsync(CatcherHost host, string subject, params string[] recipients)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice Sender", "alice@example.com"));
        foreach (var recipient in recipients)
        {
            message.To.Add(MailboxAddress.Parse(recipient));
        }

        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Routed by its recipients." };
        return host.SendAsync(message);
    }

    /// <summary>Dev only, ops only, both, and neither: oldest first, so the default list shows them the other way round.</summary>
    private static async Task SendFourAsync(CatcherHost host)
    {
        await SendToAsync(host, "Dev only", "a@dev.example");
        await SendToAsync(host, "Ops only", "b@ops.example");
        await SendToAsync(host, "Both teams", "a@dev.example", "b@ops.example");
        await SendToAsync(host, "Neither team", "c@example.com");
    }

    private static async Task<IPage> OpenAsync(BrowserFixture browser, Uri url, BrowserNewContextOptions? options = null)
    {
        var page = await browser.NewPageAsync(options);
        await page.GotoAsync(url.ToString());
        await Expect(page.Locator("#conn")).ToHaveAttributeAsync("data-state", "live");
        return page;
    }

    [Fact]
    public async Task TheSwitcherIsHiddenWhenTheCatcherHasNoNamedMailboxes()
    {
        await using var host = await CatcherHost.StartAsync();
        await host.SendAsync("Plain catcher");
        var page = await browser.NewPageAsync();

        // Wait for the page's own question about the mailboxes, so the switcher is judged after the answer.
        var answer = page.WaitForResponseAsync(response => response.Url.Contains("/api/v1/mailboxes", StringComparison.Ordinal));
        await page.GotoAsync(host.Root.ToString());
        var response = await answer;
        Assert.Equal(200, response.Status);
        await response.FinishedAsync();
        await Expect(Row(page, "Plain catcher")).ToBeVisibleAsync();
        // The answer is read and drawn within a task or two of arriving: two frames later the switcher is settled.
        await page.EvaluateAsync("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))");

        await Expect(page.Locator("#mailbox-box")).ToBeHiddenAsync();
        Assert.Equal(0, await page.Locator("#mailbox option").CountAsync());
    }

    [Fact]
    public async Task SwitchingToAMailboxShowsOnlyItsMessagesInTheAddressAndAfterAReload()
    {
        await using var host = await StartWithTwoMailboxesAsync();
        await SendFourAsync(host);
        var page = await OpenAsync(browser, host.Root);
        await Expect(Rows(page)).ToHaveCountAsync(4);
        await Expect(Switcher(page)).ToBeVisibleAsync();
        await Expect(page.Locator("#mailbox option")).ToHaveTextAsync(["All messages (4, 4 unread)", "dev (2, 2 unread)", "ops (2, 2 unread)"]);

        await Switcher(page).SelectOptionAsync("dev");

        await Expect(Rows(page)).ToHaveCountAsync(2);
        await Expect(Row(page, "Dev only")).ToBeVisibleAsync();
        await Expect(Row(page, "Both teams")).ToBeVisibleAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"\?mailbox=dev$"));
        await Expect(page.Locator("#counts")).ToHaveTextAsync("2 messages in dev, 2 unread");
        await Expect(page).ToHaveTitleAsync(new Regex(@"^\(2\) 2 messages · dev · "));
        // The brand link's own address (a new tab, a copied link) stays in the mailbox.
        await Expect(page.Locator("#home")).ToHaveAttributeAsync("href", "?mailbox=dev");

        // The search is kept beside the mailbox, and searches within it.
        await page.Locator("#search").FillAsync("team");
        await page.Locator("#search").PressAsync("Enter");
        await Expect(Rows(page)).ToHaveCountAsync(1);
        await Expect(Row(page, "Both teams")).ToBeVisibleAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"\?mailbox=dev&q=team$"));

        await page.ReloadAsync();
        await Expect(Switcher(page)).ToHaveValueAsync("dev");
        await Expect(page.Locator("#search")).ToHaveValueAsync("team");
        await Expect(Rows(page)).ToHaveCountAsync(1);
        await Expect(Row(page, "Both teams")).ToBeVisibleAsync();

        // Back to the default mailbox, keeping the search: both "team" messages.
        await Switcher(page).SelectOptionAsync("");
        await Expect(Rows(page)).ToHaveCountAsync(2);
        await Expect(page).ToHaveURLAsync(new Regex(@"/\?q=team$"));
    }

    [Fact]
    public async Task TheMessageViewStepsThroughTheMailboxOnly()
    {
        await using var host = await StartWithTwoMailboxesAsync();
        await SendFourAsync(host);
        var page = await OpenAsync(browser, new Uri(host.Root, "?mailbox=dev"));
        await Expect(Rows(page)).ToHaveCountAsync(2);

        await Row(page, "Both teams").Locator("a.open").ClickAsync();
        await Expect(page.Locator("#msg-subject")).ToHaveTextAsync("Both teams");
        await Expect(page).ToHaveURLAsync(new Regex(@"\?mailbox=dev&m=\d+$"));

        // In the default list the next older message is "Ops only"; in dev it is "Dev only".
        await page.Locator("#msg-next").ClickAsync();
        await Expect(page.Locator("#msg-subject")).ToHaveTextAsync("Dev only");
        await page.Locator("#msg-prev").ClickAsync();
        await Expect(page.Locator("#msg-subject")).ToHaveTextAsync("Both teams");
    }

    [Fact]
    public async Task ANewMessageAppearsLiveOnlyWhileItsMailboxOrTheDefaultIsShown()
    {
        await using var host = await StartWithTwoMailboxesAsync();
        var page = await browser.NewPageAsync();
        var sockets = new List<string>();
        page.WebSocket += (_, socket) => sockets.Add(socket.Url);
        await page.GotoAsync(new Uri(host.Root, "?mailbox=ops").ToString());
        await Expect(page.Locator("#conn")).ToHaveAttributeAsync("data-state", "live");
        Assert.Contains(sockets, url => url.EndsWith("/api/events?mailbox=ops", StringComparison.Ordinal));

        await SendToAsync(host, "For dev", "a@dev.example");
        // The counts of the other mailbox follow live, while its message stays out of this list.
        await Expect(page.Locator("#mailbox option[value=dev]")).ToHaveTextAsync("dev (1, 1 unread)");
        await SendToAsync(host, "For ops", "b@ops.example");
        await Expect(Row(page, "For ops")).ToBeVisibleAsync();
        await Expect(Rows(page)).ToHaveCountAsync(1);
        await Expect(page.Locator("#counts")).ToHaveTextAsync("1 message in ops, 1 unread");

        // Switching reconnects the live events for the new mailbox.
        await Switcher(page).SelectOptionAsync("dev");
        await Expect(Row(page, "For dev")).ToBeVisibleAsync();
        await Expect(page.Locator("#conn")).ToHaveAttributeAsync("data-state", "live");
        Assert.Contains(sockets, url => url.EndsWith("/api/events?mailbox=dev", StringComparison.Ordinal));
        await SendToAsync(host, "Shared by both", "a@dev.example", "b@ops.example");
        await Expect(Row(page, "Shared by both")).ToBeVisibleAsync();
        await Expect(Rows(page)).ToHaveCountAsync(2);

        // Taking a message that is also in ops out of dev, from elsewhere, is an event for dev's view alone (the
        // message stays stored, so the default view hears nothing): the list drops it only if its socket is dev's.
        using var http = new HttpClient { BaseAddress = host.Root };
        using var messages = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("api/v1/messages?mailbox=dev", TestContext.Current.CancellationToken));
        var id = messages.RootElement.GetProperty("messages").EnumerateArray()
            .Single(m => m.GetProperty("Subject").GetString() == "Shared by both").GetProperty("ID").GetString();
        using var delete = new HttpRequestMessage(HttpMethod.Delete, "api/v1/messages?mailbox=dev")
        {
            Content = new StringContent($"{{\"IDs\":[\"{id}\"]}}", System.Text.Encoding.UTF8, "application/json"),
        };
        (await http.SendAsync(delete, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        await Expect(Row(page, "Shared by both")).ToHaveCountAsync(0);
        await Expect(Rows(page)).ToHaveCountAsync(1);

        // The default mailbox sees every message, and every new one.
        await Switcher(page).SelectOptionAsync("");
        await Expect(Rows(page)).ToHaveCountAsync(3);
        await SendToAsync(host, "For nobody", "c@example.com");
        await Expect(Row(page, "For nobody")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task DeletingInAMailboxTakesTheMessageOutOfThatMailboxOnly()
    {
        await using var host = await StartWithTwoMailboxesAsync();
        await SendFourAsync(host);
        var page = await OpenAsync(browser, new Uri(host.Root, "?mailbox=dev"));
        await Expect(Rows(page)).ToHaveCountAsync(2);

        await Row(page, "Both teams").Locator("a.open").ClickAsync();
        await Expect(page.Locator("#msg-subject")).ToHaveTextAsync("Both teams");
        var request = await page.RunAndWaitForRequestAsync(
            () => page.Locator("#msg-delete").ClickAsync(),
            r => r.Method == "DELETE");
        Assert.EndsWith("/api/v1/messages?mailbox=dev", request.Url, StringComparison.Ordinal);
        await Expect(Row(page, "Both teams")).ToHaveCountAsync(0);
        await Expect(Rows(page)).ToHaveCountAsync(1);

        // Still in ops, and so still stored.
        await Switcher(page).SelectOptionAsync("ops");
        await Expect(Row(page, "Both teams")).ToBeVisibleAsync();
        await Switcher(page).SelectOptionAsync("dev");
        await Expect(Rows(page)).ToHaveCountAsync(1);

        // Delete all in dev says where, and leaves an empty mailbox that names its rule.
        await page.Locator("#all-delete").ClickAsync();
        await Expect(page.Locator("#confirm-text")).ToContainTextAsync("Delete all 1 messages in dev?");
        var all = await page.RunAndWaitForRequestAsync(() => page.Locator("#confirm-ok").ClickAsync(), r => r.Method == "DELETE");
        Assert.EndsWith("/api/v1/messages?mailbox=dev", all.Url, StringComparison.Ordinal);
        await Expect(page.Locator("#empty-mailbox")).ToBeVisibleAsync();
        await Expect(page.Locator("#empty-mailbox-rules")).ToHaveTextAsync("to:@dev.example");
        await Expect(page.Locator("#mailbox option[value=dev]")).ToHaveTextAsync("dev (0)");

        // "Dev only" was in dev alone, so it left the store; the rest is untouched.
        await Switcher(page).SelectOptionAsync("");
        await Expect(Rows(page)).ToHaveCountAsync(3);
        await Expect(Row(page, "Dev only")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task TheSwitcherWorksFromTheKeyboardAndFitsAPhoneScreenInDarkMode()
    {
        await using var host = await StartWithTwoMailboxesAsync();
        await SendFourAsync(host);
        var page = await OpenAsync(browser, host.Root, new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 390, Height = 844 },
            ColorScheme = ColorScheme.Dark,
            IsMobile = true,
            HasTouch = true,
        });
        await Expect(Rows(page)).ToHaveCountAsync(4);
        // The mailboxes come from their own request: until it has answered, the switcher holds only "All messages"
        // and the key press would have nowhere to go. (Once they had come, ArrowDown chose "All messages" itself:
        // the default option had taken its text as its value, so nothing was selected. Fixed in mailboxes.js.)
        await Expect(Switcher(page).Locator("option")).ToHaveCountAsync(3);

        await Switcher(page).FocusAsync();
        await page.Keyboard.PressAsync("ArrowDown");

        await Expect(Switcher(page)).ToHaveValueAsync("dev");
        await Expect(Rows(page)).ToHaveCountAsync(2);
        await Expect(page).ToHaveURLAsync(new Regex(@"\?mailbox=dev$"));
        var box = await Switcher(page).BoundingBoxAsync();
        Assert.NotNull(box);
        Assert.InRange(box.X, 0, 390);
        Assert.InRange(box.X + box.Width, 0, 390);
        // The select follows the dark theme: light text on a dark background.
        var colours = await Switcher(page).EvaluateAsync<string[]>("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]");
        Assert.Equal(["rgb(230, 233, 239)", "rgb(20, 23, 28)"], colours);
        await BrowserFixture.ScreenshotAsync(page, "mailbox-phone-dark");
    }
}
