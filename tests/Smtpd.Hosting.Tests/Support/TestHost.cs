using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Smtpd.Hosting.Tests.Support;

/// <summary>A real Generic Host with an in-memory "Smtpd" section, captured logs, and MailKit helpers.</summary>
public sealed class TestHost : IAsyncDisposable
{
    private TestHost(IHost host, CapturedLogs logs)
    {
        Host = host;
        Logs = logs;
    }

    public IHost Host { get; }

    public CapturedLogs Logs { get; }

    public SmtpServer Server => Host.Services.GetRequiredService<SmtpServer>();

    public IPEndPoint EndPoint => Server.Endpoints[0];

    /// <summary>Builds a host whose only endpoint is 127.0.0.1 on a free port, unless <paramref name="settings"/> say otherwise.</summary>
    public static TestHost Build(
        IDictionary<string, string?>? settings = null,
        Action<SmtpdBuilder>? smtpd = null,
        Action<SmtpdOptions>? configure = null,
        Action<IServiceCollection>? services = null,
        TimeSpan? shutdownTimeout = null,
        bool defaultEndpoint = true,
        string? jsonFile = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        if (jsonFile is not null)
        {
            builder.Configuration.AddJsonFile(jsonFile, optional: false);
        }

        var values = new Dictionary<string, string?>(settings ?? new Dictionary<string, string?>());
        if (defaultEndpoint && !values.Keys.Any(k => k.StartsWith("Smtpd:Endpoints", StringComparison.OrdinalIgnoreCase)))
        {
            values["Smtpd:Endpoints:0:Address"] = "127.0.0.1";
            values["Smtpd:Endpoints:0:Port"] = "0";
        }

        builder.Configuration.AddInMemoryCollection(values);
        var logs = new CapturedLogs();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        if (shutdownTimeout is { } timeout)
        {
            builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = timeout);
        }

        services?.Invoke(builder.Services);
        smtpd?.Invoke(builder.Services.AddSmtpd(configure));
        if (smtpd is null)
        {
            builder.Services.AddSmtpd(configure);
        }

        return new TestHost(builder.Build(), logs);
    }

    /// <summary>Builds and starts.</summary>
    public static async Task<TestHost> StartAsync(
        IDictionary<string, string?>? settings = null,
        Action<SmtpdBuilder>? smtpd = null,
        Action<SmtpdOptions>? configure = null,
        Action<IServiceCollection>? services = null,
        TimeSpan? shutdownTimeout = null)
    {
        var host = Build(settings, smtpd, configure, services, shutdownTimeout);
        await host.Host.StartAsync(TestContext.Current.CancellationToken);
        return host;
    }

    public async Task<SmtpClient> ConnectAsync()
    {
        var client = new SmtpClient { Timeout = 10_000 };
        await client.ConnectAsync(EndPoint.Address.ToString(), EndPoint.Port, MailKit.Security.SecureSocketOptions.None, TestContext.Current.CancellationToken);
        return client;
    }

    public async Task<string> SendAsync(MimeMessage? message = null)
    {
        using var client = await ConnectAsync();
        var reply = await client.SendAsync(message ?? NewMessage(), TestContext.Current.CancellationToken);
        await client.DisconnectAsync(true, TestContext.Current.CancellationToken);
        return reply;
    }

    public static MimeMessage NewMessage(string to = "bob@example.com", string subject = "Hello")
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.com"));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Hi.\r\n" };
        return message;
    }

    public async ValueTask DisposeAsync()
    {
        if (Host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.IsCancellationRequested)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await Host.StopAsync(stop.Token);
        }

        if (Host is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
        else
        {
            Host.Dispose();
        }
    }
}

/// <summary>One captured log entry.</summary>
public sealed record CapturedLog(string Category, LogLevel Level, string Message);

/// <summary>Records every log entry of the host.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    public ConcurrentQueue<CapturedLog> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Entries.Enqueue(new CapturedLog(category, logLevel, formatter(state, exception)));
    }
}
