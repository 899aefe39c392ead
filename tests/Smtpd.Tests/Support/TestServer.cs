using System.Collections.Concurrent;
using System.Net;

namespace Smtpd.Tests.Support;

/// <summary>What a test server's delivery callback saw.</summary>
public sealed record ReceivedMessage(SmtpEnvelope Envelope, byte[] Content, SmtpSessionContext Session)
{
    public string Text => System.Text.Encoding.UTF8.GetString(Content);
}

/// <summary>
/// An <see cref="SmtpServer"/> on 127.0.0.1 port 0 that records every delivered message, for integration tests.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly ConcurrentQueue<ReceivedMessage> _messages = new();
    private readonly SemaphoreSlim _arrived = new(0);

    private TestServer(SmtpServer server) => Server = server;

    public SmtpServer Server { get; }

    public IPEndPoint EndPoint => Server.Endpoints[0];

    public int Port => EndPoint.Port;

    public IReadOnlyCollection<ReceivedMessage> Messages => _messages.ToArray();

    /// <summary>
    /// Starts a server. Unless <paramref name="configure"/> sets a delivery callback of its own, messages are
    /// recorded in <see cref="Messages"/>. <paramref name="listener"/> replaces the plain listener on 127.0.0.1 port 0;
    /// logs go to <paramref name="loggerFactory"/>.
    /// </summary>
    public static TestServer Start(Action<SmtpServerOptions>? configure = null, SmtpListener? listener = null, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory = null) =>
        StartCore(configure, loggerFactory, TimeProvider.System, listener ?? new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));

    /// <summary>
    /// Starts a server as <see cref="Start"/> does whose timeouts, deadlines and data rate read <paramref name="time"/>:
    /// a test advances a <c>FakeTimeProvider</c> past a timeout instead of waiting for it.
    /// </summary>
    /// <remarks>
    /// The minimum data rate is off unless <paramref name="configure"/> sets it: one jump of the fake clock past a
    /// timeout also passes the rate's grace period, and which cut-off fires first would then depend on timer order,
    /// not on what the test is about (CI saw it in three tests). The rate's own tests set it.
    /// </remarks>
    public static TestServer StartWithClock(TimeProvider time, Action<SmtpServerOptions>? configure = null, SmtpListener? listener = null) =>
        StartCore(
            o =>
            {
                o.MinimumDataRate = 0;
                configure?.Invoke(o);
            },
            loggerFactory: null,
            time,
            listener ?? new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));

    /// <summary>
    /// Starts a server whose first listener (<see cref="EndPoint"/>) speaks LMTP and whose second
    /// (<see cref="SmtpEndPoint"/>) speaks SMTP, with the same options; messages are recorded as by <see cref="Start"/>.
    /// </summary>
    public static TestServer StartLmtp(Action<SmtpServerOptions>? configure = null) =>
        StartCore(
            configure,
            loggerFactory: null,
            TimeProvider.System,
            new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)) { Protocol = SmtpListenerProtocol.Lmtp },
            new SmtpListener(new IPEndPoint(IPAddress.Loopback, 0)));

    /// <summary>The second listener's endpoint, the SMTP one of <see cref="StartLmtp"/>.</summary>
    public IPEndPoint SmtpEndPoint => Server.Endpoints[1];

    private static TestServer StartCore(Action<SmtpServerOptions>? configure, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory, TimeProvider time, params SmtpListener[] listeners)
    {
        var options = new SmtpServerOptions { ServerName = "test.local" };
        TestServer? test = null;
        options.Deliver = async (message, ct) =>
        {
            await using var stream = message.OpenRead();
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, ct);
            test!.Record(new ReceivedMessage(message.Envelope, copy.ToArray(), message.Session));
            return SmtpVerdict.Accept;
        };
        configure?.Invoke(options);
        var server = new SmtpServer(options, loggerFactory, time);
        test = new TestServer(server);
        server.Start(listeners);
        return test;
    }

    /// <summary>Records a message; for tests whose own callbacks want the recording too.</summary>
    public void Record(ReceivedMessage message)
    {
        _messages.Enqueue(message);
        _arrived.Release();
    }

    /// <summary>Waits for the next recorded message.</summary>
    public async Task<ReceivedMessage> WaitForMessageAsync(TimeSpan? timeout = null)
    {
        if (!await _arrived.WaitAsync(timeout ?? TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException("No message arrived.");
        }

        return _messages.Last();
    }

    public Task<RawSmtpClient> ConnectAsync() => RawSmtpClient.ConnectAsync(EndPoint);

    /// <summary>Connects, reads the greeting and sends EHLO.</summary>
    public async Task<RawSmtpClient> ConnectAndEhloAsync()
    {
        var (client, greeting) = await RawSmtpClient.ConnectAndGreetAsync(EndPoint);
        Xunit.Assert.StartsWith("220 ", greeting);
        var ehlo = await client.CommandAsync("EHLO client.test");
        Xunit.Assert.StartsWith("250-", ehlo);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _arrived.Dispose();
    }
}
