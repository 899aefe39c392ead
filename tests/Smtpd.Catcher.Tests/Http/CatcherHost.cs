using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MailKit.Net.Smtp;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Smtpd.Catcher.Tests.Http;

/// <summary>
/// A real ASP.NET Core app hosting the catcher the way an application would (AddSmtpdCatcher, MapSmtpdCatcher):
/// Kestrel and SMTP on 127.0.0.1 port 0, a store in a temporary directory, an HttpClient for the API and MailKit
/// for SMTP.
/// </summary>
internal sealed class CatcherHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _directory;

    private CatcherHost(WebApplication app, string directory, HttpClient client)
    {
        _app = app;
        _directory = directory;
        Client = client;
    }

    public HttpClient Client { get; }

    public MailCatcher Catcher => _app.Services.GetRequiredService<MailCatcher>();

    public IServiceProvider Services => _app.Services;

    public string DatabasePath => Path.Combine(_directory, "store.db");

    /// <summary>A host with the catcher's services (its store in <paramref name="directory"/>, HTTP and SMTP on loopback port 0), not yet mapped or started.</summary>
    public static WebApplication Build(string directory, Action<CatcherOptions>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSmtpdCatcher(o =>
        {
            o.DatabasePath = Path.Combine(directory, "store.db");
            o.Listeners.Add(new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));
            configure?.Invoke(o);
        });
        return builder.Build();
    }

    public static async Task<CatcherHost> StartAsync(Action<CatcherOptions>? configure = null, Action<WebApplication>? map = null)
    {
        var directory = Directory.CreateTempSubdirectory("smtpd-http-").FullName;
        var app = Build(directory, configure);
        if (map is null)
        {
            app.MapSmtpdCatcher();
        }
        else
        {
            map(app);
        }

        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var client = new HttpClient { BaseAddress = new Uri(address) };
        return new CatcherHost(app, directory, client);
    }

    /// <summary>Sends a message over SMTP with MailKit and returns the id from the 250 reply.</summary>
    public async Task<string> SendAsync(MimeMessage message, IEnumerable<string>? envelopeRecipients = null)
    {
        using var smtp = new SmtpClient();
        var endpoint = Catcher.Listeners[0].EndPoint;
        await smtp.ConnectAsync(endpoint.Address.ToString(), endpoint.Port, MailKit.Security.SecureSocketOptions.None, TestContext.Current.CancellationToken);
        var sender = message.From.Mailboxes.FirstOrDefault() ?? MailboxAddress.Parse("sender@example.com");
        var recipients = (envelopeRecipients ?? message.To.Mailboxes.Concat(message.Cc.Mailboxes).Concat(message.Bcc.Mailboxes).Select(m => m.Address))
            .Select(MailboxAddress.Parse).ToList();
        var reply = await smtp.SendAsync(message, sender, recipients, TestContext.Current.CancellationToken);
        await smtp.DisconnectAsync(true, TestContext.Current.CancellationToken);
        return reply[(reply.LastIndexOf(' ') + 1)..];
    }

    /// <summary>Sends a simple text message.</summary>
    public Task<string> SendSimpleAsync(string subject, string from = "alice@example.com", string to = "bob@example.com", string text = "Hello")
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = text };
        return SendAsync(message);
    }

    public async Task<JsonElement> GetJsonAsync(string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await Client.GetAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken)).Clone();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        // A session the host's stop cut short (a POP3 client mid-QUIT, say) can still close its store connection
        // a moment later, and SQLite removes its -wal/-shm files then: a delete racing that sees "not empty".
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
                return;
            }
            catch (IOException) when (attempt < 10)
            {
                await Task.Delay(50 * attempt);
            }
        }
    }
}
