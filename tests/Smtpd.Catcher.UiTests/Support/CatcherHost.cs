using System.Net;
using MailKit.Net.Smtp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Smtpd.Catcher.UiTests.Support;

/// <summary>
/// A whole catcher as an ASP.NET Core app: SMTP on 127.0.0.1 port 0, the HTTP API and the inbox on Kestrel at
/// 127.0.0.1 port 0, a SQLite store in a temporary directory. Messages are sent to it with MailKit.
/// </summary>
public sealed class CatcherHost : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly string directory;

    private CatcherHost(WebApplication app, string directory, Uri root, IPEndPoint smtp)
    {
        this.app = app;
        this.directory = directory;
        Root = root;
        Smtp = smtp;
    }

    /// <summary>The inbox's URL, ending in a slash (with the path base, if any).</summary>
    public Uri Root { get; }

    /// <summary>The SMTP listener.</summary>
    public IPEndPoint Smtp { get; }

    /// <summary>Starts a catcher.</summary>
    /// <param name="pathBase">A path base such as <c>/mail</c> (as <c>--base-path</c>), or <see langword="null"/>.</param>
    /// <returns>The started catcher.</returns>
    /// <param name="security">The HTTP security rules (<c>--ui-auth</c> and the rest), or <see langword="null"/> for none.</param>
    /// <param name="configure">Sets further catcher options (named mailboxes, say), or <see langword="null"/>.</param>
    public static async Task<CatcherHost> StartAsync(string? pathBase = null, Http.Security.CatcherHttpSecurityOptions? security = null, Action<CatcherOptions>? configure = null)
    {
        var directory = Directory.CreateTempSubdirectory("smtpd-ui-").FullName;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Services.AddSmtpdCatcher(options =>
        {
            options.DatabasePath = Path.Combine(directory, "store.db");
            options.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));
            configure?.Invoke(options);
        });
        var app = builder.Build();
        if (pathBase is not null)
        {
            app.UsePathBase(pathBase);
        }

        if (security is not null)
        {
            Http.Security.CatcherSecurityApplicationBuilderExtensions.UseCatcherSecurity(app, security);
        }

        app.UseRouting();
        // The product's wiring: the API, the live events and the inbox in one call.
        app.MapSmtpdCatcher();
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var smtp = app.Services.GetRequiredService<MailCatcher>().Listeners[0].EndPoint;
        return new CatcherHost(app, directory, new Uri(address.TrimEnd('/') + (pathBase ?? string.Empty) + "/"), smtp);
    }

    /// <summary>Sends a message with MailKit and waits for the 250.</summary>
    /// <param name="message">The message.</param>
    /// <returns>A task.</returns>
    public async Task SendAsync(MimeMessage message)
    {
        using var client = new SmtpClient();
        await client.ConnectAsync(Smtp.Address.ToString(), Smtp.Port, MailKit.Security.SecureSocketOptions.None, TestContext.Current.CancellationToken);
        await client.SendAsync(message, TestContext.Current.CancellationToken);
        await client.DisconnectAsync(true, TestContext.Current.CancellationToken);
    }

    /// <summary>Sends a plain message.</summary>
    /// <param name="subject">The subject.</param>
    /// <param name="text">The text body.</param>
    /// <returns>A task.</returns>
    public Task SendAsync(string subject, string text = "Hello from the browser tests.")
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice Sender", "alice@example.com"));
        message.To.Add(new MailboxAddress("Bob", "bob@example.com"));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = text };
        return SendAsync(message);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await app.StopAsync(TestContext.Current.CancellationToken);
        await app.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A store file still closing: the temporary directory is left for the system to clean.
        }
    }
}
