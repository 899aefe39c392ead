using System.Net;
using Microsoft.Playwright;
using Smtpd.Catcher.Http.Security;
using Smtpd.Catcher.UiTests.Support;
using static Microsoft.Playwright.Assertions;

namespace Smtpd.Catcher.UiTests;

/// <summary>The inbox behind <c>--ui-auth</c>: the browser is asked for a password, and with it everything works.</summary>
public sealed class BasicAuthBrowserTests(BrowserFixture browser)
{
    static BasicAuthBrowserTests() => SetDefaultExpectTimeout(15_000);

    private static CatcherHttpSecurityOptions WithUser()
    {
        var options = new CatcherHttpSecurityOptions();
        options.AddUser("tester:s3cret pass");
        return options;
    }

    [Fact]
    public async Task WithUiAuthThePageAsksForAPassword()
    {
        await using var host = await CatcherHost.StartAsync(security: WithUser());
        var page = await browser.NewPageAsync();
        IResponse? challenge = null;
        page.Response += (_, response) => challenge ??= response.Status == (int)HttpStatusCode.Unauthorized ? response : null;

        // A headed browser shows its password prompt here; headless Chromium, with no one to ask, fails the navigation.
        var failure = await Record.ExceptionAsync(() => page.GotoAsync(host.Root.ToString()));

        Assert.NotNull(challenge);
        // The challenge is what makes a browser show its password prompt.
        Assert.StartsWith("Basic", await challenge.HeaderValueAsync("www-authenticate") ?? string.Empty, StringComparison.Ordinal);
        if (failure is not null)
        {
            Assert.Contains("ERR_INVALID_AUTH_CREDENTIALS", failure.Message, StringComparison.Ordinal);
        }

        Assert.Equal(0, await page.Locator("#list").CountAsync());
    }

    [Fact]
    public async Task WithTheRightPasswordTheInboxWorksAndGoesLive()
    {
        await using var host = await CatcherHost.StartAsync(security: WithUser());
        var page = await browser.NewPageAsync(new BrowserNewContextOptions
        {
            HttpCredentials = new HttpCredentials { Username = "tester", Password = "s3cret pass" },
        });

        await page.GotoAsync(host.Root.ToString());
        await Expect(page.Locator("#conn")).ToHaveAttributeAsync("data-state", "live");
        await host.SendAsync("Behind a password");

        await Expect(page.Locator(".row:not(.loading):not([hidden])").Filter(new() { HasText = "Behind a password" })).ToBeVisibleAsync();
    }
}
