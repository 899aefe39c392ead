// bench/UiBench: the browser inbox with a large store, in Debian's headless Chromium (bench/ui/run.sh).
// Stores N messages over SMTP, then measures the first paint of the list, opening a message, searching and
// scrolling through 5,000 rows, from the page's own performance marks (performance.mark in list.js/message.js).
using System.Diagnostics;
using System.Globalization;
using System.Net;
using MailKit.Net.Smtp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Playwright;
using MimeKit;
using Smtpd;
using Smtpd.Catcher;

var count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100_000;
var chromium = Environment.GetEnvironmentVariable("SMTPD_TEST_CHROMIUM") is { Length: > 0 } c ? c : "/usr/bin/chromium";
var directory = Directory.CreateTempSubdirectory("smtpd-uibench-").FullName;
try
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
    builder.Logging.ClearProviders();
    builder.Services.AddSmtpdCatcher(options =>
    {
        options.DatabasePath = Path.Combine(directory, "store.db");
        options.Retain = 0;
        options.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));
    });
    await using var app = builder.Build();
    app.MapSmtpdCatcher();
    await app.StartAsync();
    var root = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/";
    var smtp = app.Services.GetRequiredService<MailCatcher>().Listeners[0].EndPoint;

    var seeding = Stopwatch.StartNew();
    await SeedAsync(smtp, count);
    Console.WriteLine($"stored {count:N0} messages over SMTP in {seeding.Elapsed.TotalSeconds:F1} s");

    using var playwright = await Playwright.CreateAsync();
    await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = chromium,
        Headless = true,
        Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });

    // First paint: navigation start to the first rows with messages in them, five fresh pages.
    var firstPaint = new List<double>();
    var contentfulPaint = new List<double>();
    for (var run = 0; run < 5; run++)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var fresh = await context.NewPageAsync();
        await fresh.GotoAsync(root);
        firstPaint.Add(await fresh.EvaluateAsync<double>(WaitForMark, "smtpd:list-rendered"));
        contentfulPaint.Add(await fresh.EvaluateAsync<double>("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1"));
        await context.CloseAsync();
    }

    Report("first paint of the list (navigation start to rows shown)", firstPaint);
    Report("first contentful paint", contentfulPaint);

    var page = await (await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } })).NewPageAsync();
    await page.GotoAsync(root);
    await page.EvaluateAsync<double>(WaitForMark, "smtpd:list-rendered");

    // Opening a message: click on a row to the message view rendered, and to the HTML frame loaded.
    var open = new List<double>();
    var openFrame = new List<double>();
    for (var run = 0; run < 10; run++)
    {
        var times = await page.EvaluateAsync<double[]>(OpenRow, run % 8);
        open.Add(times[0]);
        openFrame.Add(times[1]);
    }

    Report("open a message (click to header, text and tabs rendered)", open);
    Report("open a message (click to the HTML frame loaded)", openFrame);

    // Search: submitting the box to the matching rows shown.
    var search = new List<double>();
    foreach (var query in new[] { "from:sender7@example.com", "subject:\"order 4242\"", "invoice", "shipped", "tag:none-such", "order" })
    {
        var took = await page.EvaluateAsync<double>(Search, query);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  search {query}: {(took < 0 ? "no answer within 10 s (error or timeout)" : $"{took:F0} ms")}"));
        if (took >= 0)
        {
            search.Add(took);
        }
    }

    if (search.Count > 0)
    {
        Report("search (submit to rows shown)", search);
    }
    await page.EvaluateAsync<double>(Search, string.Empty);

    // Scrolling 5,000 rows: 5 rows per animation frame for 1,000 frames.
    var scroll = await page.EvaluateAsync<double[]>(Scroll);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"scroll 5,000 rows: {scroll[0]:F0} frames in {scroll[1]:F0} ms = {scroll[2]:F1} fps; frame p50 {scroll[3]:F1} ms, p95 {scroll[4]:F1} ms, max {scroll[5]:F1} ms; {scroll[6]:F0} frames over 20 ms; rows still placeholders in {scroll[7]:F0} frames"));
}
finally
{
    Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    Directory.Delete(directory, recursive: true);
}

static void Report(string what, List<double> values)
{
    values.Sort();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{what}: median {values[values.Count / 2]:F0} ms, min {values[0]:F0} ms, max {values[^1]:F0} ms (n={values.Count})"));
}

static async Task SeedAsync(IPEndPoint smtp, int count)
{
    const int Connections = 8;
    var next = -1;
    await Task.WhenAll(Enumerable.Range(0, Connections).Select(async _ =>
    {
        using var client = new SmtpClient();
        await client.ConnectAsync(smtp.Address.ToString(), smtp.Port, MailKit.Security.SecureSocketOptions.None);
        int i;
        while ((i = Interlocked.Increment(ref next)) < count)
        {
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress($"Sender {i % 1000}", $"sender{i % 1000}@example.com"));
            message.To.Add(new MailboxAddress("Customer", $"customer{i % 5000}@example.com"));
            message.Subject = i % 10 == 0 ? $"Invoice {i}" : $"Your order {i} has shipped";
            var body = new BodyBuilder
            {
                TextBody = $"Hello, your order {i} is on its way. Track it at https://shop.example.com/track/{i}. Code {100000 + (i % 900000)}.",
                HtmlBody = $"<h1>Order {i}</h1><p>Hello, your order <b>{i}</b> is on its way.</p><p><a href=\"https://shop.example.com/track/{i}\">Track it</a></p>",
            };
            message.Body = body.ToMessageBody();
            await client.SendAsync(message);
        }

        await client.DisconnectAsync(true);
    }));
}

partial class Program
{
    // Resolves with the startTime of the named mark, waiting for it if it is not there yet.
    private const string WaitForMark = """
        name => new Promise(resolve => {
          const found = performance.getEntriesByName(name);
          if (found.length) { resolve(found[0].startTime); return; }
          new PerformanceObserver((list, observer) => {
            const entry = list.getEntries().find(e => e.name === name);
            if (entry) { observer.disconnect(); resolve(entry.startTime); }
          }).observe({ type: 'mark', buffered: true });
        })
        """;

    private const string OpenRow = """
        async index => {
          const rows = [...document.querySelectorAll('.row:not(.loading):not([hidden])')];
          const row = rows[Math.min(index, rows.length - 1)];
          performance.clearMarks('smtpd:message-rendered');
          const frame = document.getElementById('msg-frame');
          const framed = new Promise(resolve => frame.addEventListener('load', () => resolve(performance.now()), { once: true }));
          const start = performance.now();
          const rendered = new Promise(resolve => new PerformanceObserver((list, observer) => {
            const entry = list.getEntries().find(e => e.name === 'smtpd:message-rendered');
            if (entry) { observer.disconnect(); resolve(entry.startTime); }
          }).observe({ type: 'mark' }));
          row.querySelector('a.open').click();
          const [shown, loaded] = await Promise.all([rendered, framed]);
          return [shown - start, loaded - start];
        }
        """;

    private const string Search = """
        async query => {
          performance.clearMarks('smtpd:list-rendered');
          const start = performance.now();
          const rendered = new Promise(resolve => {
            new PerformanceObserver((list, observer) => {
              const entry = list.getEntries().find(e => e.name === 'smtpd:list-rendered');
              if (entry) { observer.disconnect(); resolve(entry.startTime); }
            }).observe({ type: 'mark' });
            // A search with no match renders no rows: the empty state is the end.
            const empty = document.getElementById('empty');
            new MutationObserver((_, observer) => { if (!empty.hidden) { observer.disconnect(); resolve(performance.now()); } })
              .observe(empty, { attributes: true });
          });
          const box = document.getElementById('search');
          box.value = query;
          document.getElementById('search-form').requestSubmit();
          // A refused query (a toast, no rows) or a stalled one answers -1 after 10 s instead of hanging the bench.
          const done = await Promise.race([rendered, new Promise(resolve => setTimeout(() => resolve(-1), 10000))]);
          return done < 0 ? -1 : done - start;
        }
        """;

    private const string Scroll = """
        () => new Promise(resolve => {
          const list = document.getElementById('list');
          const rowHeight = parseFloat(getComputedStyle(list).getPropertyValue('--row-height'));
          const frames = [];
          let placeholders = 0;
          let last = performance.now();
          const start = last;
          let n = 0;
          function step(now) {
            frames.push(now - last);
            last = now;
            if (document.querySelector('.row.loading:not([hidden])')) placeholders++;
            if (n++ >= 1000) {
              const sorted = frames.slice(1).sort((a, b) => a - b);
              const total = now - start;
              resolve([sorted.length, total, sorted.length * 1000 / total, sorted[Math.floor(sorted.length / 2)],
                sorted[Math.floor(sorted.length * 0.95)], sorted[sorted.length - 1], sorted.filter(f => f > 20).length, placeholders]);
              return;
            }
            list.scrollTop += rowHeight * 5;
            requestAnimationFrame(step);
          }
          requestAnimationFrame(step);
        })
        """;
}
