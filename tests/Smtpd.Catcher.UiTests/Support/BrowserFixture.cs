using Microsoft.Playwright;

[assembly: AssemblyFixture(typeof(Smtpd.Catcher.UiTests.Support.BrowserFixture))]

namespace Smtpd.Catcher.UiTests.Support;

/// <summary>
/// One headless Chromium for the whole run: Debian's <c>chromium</c> package at <see cref="ExecutablePath"/>, which
/// Playwright drives over its own driver (shipped in the NuGet package). Playwright's browser download is never used.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>Debian's chromium, installed by .ci/setup-browser; <c>SMTPD_TEST_CHROMIUM</c> names another.</summary>
    public static readonly string ExecutablePath = Environment.GetEnvironmentVariable("SMTPD_TEST_CHROMIUM") is { Length: > 0 } path
        ? path
        : "/usr/bin/chromium";

    // Headless, and nothing that talks to the network by itself (the tests' traffic stays on loopback).
    private static readonly string[] Arguments =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
    ];

    private IPlaywright? playwright;
    private IBrowser? browser;
    private string? unavailable;

    /// <summary>Where the tests save their screenshots: TestResults/ui-screenshots beside the test assembly.</summary>
    public static string ScreenshotDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "TestResults", "ui-screenshots");

    /// <inheritdoc/>
    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ExecutablePath))
        {
            unavailable = $"no browser at {ExecutablePath}: install Debian's chromium (bash .ci/setup-browser) or set SMTPD_TEST_CHROMIUM";
            return;
        }

        try
        {
            playwright = await Playwright.CreateAsync();
            browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ExecutablePath,
                Headless = true,
                Args = Arguments,
                Timeout = 60_000,
            });
        }
        catch (PlaywrightException exception)
        {
            unavailable = $"{ExecutablePath} did not start under Playwright: {exception.Message}";
        }
    }

    /// <summary>
    /// A fresh browser context (its own storage and permissions) and a page in it. Without a browser the test is
    /// skipped outside CI and fails in CI, where .ci/setup-browser must have installed one.
    /// </summary>
    /// <param name="options">Context options (viewport, colour scheme, credentials).</param>
    /// <returns>The page; dispose its context with <see cref="IBrowserContext.CloseAsync"/>.</returns>
    public async Task<IPage> NewPageAsync(BrowserNewContextOptions? options = null)
    {
        if (browser is null)
        {
            if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 })
            {
                Assert.Fail($"The browser tests must run in CI, but {unavailable}.");
            }

            Assert.Skip(unavailable ?? "no browser");
        }

        options ??= new BrowserNewContextOptions();
        options.ViewportSize ??= new ViewportSize { Width = 1280, Height = 800 };
        options.AcceptDownloads = true;
        var context = await browser.NewContextAsync(options);
        context.SetDefaultTimeout(15_000);
        return await context.NewPageAsync();
    }

    /// <summary>Saves a full-page screenshot as a test artifact and returns its path.</summary>
    /// <param name="page">The page.</param>
    /// <param name="name">The file name without extension.</param>
    /// <returns>The PNG's path.</returns>
    public static async Task<string> ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ScreenshotDirectory);
        var path = Path.Combine(ScreenshotDirectory, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path });
        return path;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (browser is not null)
        {
            await browser.DisposeAsync();
        }

        playwright?.Dispose();
    }
}
