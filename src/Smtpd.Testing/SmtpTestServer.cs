using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Smtpd.Testing;

/// <summary>
/// An SMTP server for tests, in process: it listens on 127.0.0.1 on a free port, records every message it accepts,
/// lets a test wait for messages without polling, and injects faults on request.
/// </summary>
/// <remarks>
/// Starting takes a few milliseconds and each server has its own port, so every test can have its own server and
/// tests can run in parallel. Point the code under test at <see cref="Host"/> and <see cref="Port"/>.
/// </remarks>
/// <example>
/// <code>
/// await using var smtp = await SmtpTestServer.StartAsync();
/// await mailer.SendWelcomeAsync("bob@example.com", smtpHost: smtp.Host, smtpPort: smtp.Port);
/// var message = await smtp.WaitForMessageAsync(m =&gt; m.IsTo("bob@example.com"));
/// Assert.Equal("Welcome", message.Subject);
/// </code>
/// </example>
public sealed class SmtpTestServer : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly List<SmtpReceivedMessage> _messages = [];
    private readonly List<MessageWaiter> _waiters = [];
    private readonly TimeSpan _defaultTimeout;
    private bool _disposed;

    private SmtpTestServer(SmtpServer server, SmtpTestServerOptions options, SmtpFaults faults)
    {
        Server = server;
        Faults = faults;
        Tls = options.Tls;
        Certificate = options.Tls == SmtpTlsMode.None ? null : server.Options.ServerCertificate;
        Credentials = options.Credentials;
        _defaultTimeout = options.DefaultWaitTimeout;
    }

    /// <summary>The underlying server, for its <see cref="SmtpServer.Options"/> and <see cref="SmtpServer.SessionCount"/>.</summary>
    public SmtpServer Server { get; }

    /// <summary>The address to connect to, such as <c>127.0.0.1</c>.</summary>
    public string Host => EndPoint.Address.ToString();

    /// <summary>The port to connect to.</summary>
    public int Port => EndPoint.Port;

    /// <summary>The endpoint to connect to.</summary>
    public IPEndPoint EndPoint { get; private set; } = new(IPAddress.Loopback, 0);

    /// <summary>How the server offers TLS.</summary>
    public SmtpTlsMode Tls { get; }

    /// <summary>The TLS certificate the server presents, or <see langword="null"/> without TLS. Export it (for example with <c>ExportCertificatePem()</c>) for clients that trust by file.</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>The credentials AUTH requires, or <see langword="null"/> when it is not required.</summary>
    public NetworkCredential? Credentials { get; }

    /// <summary>The fault injection: scripts and chaos.</summary>
    public SmtpFaults Faults { get; }

    /// <summary>A snapshot of the messages accepted since the start or the last <see cref="Clear"/>, in arrival order.</summary>
    public IReadOnlyList<SmtpReceivedMessage> Messages
    {
        get
        {
            lock (_gate)
            {
                return _messages.ToArray();
            }
        }
    }

    /// <summary>Starts a test server on 127.0.0.1 and a free port.</summary>
    /// <param name="configure">Changes the options (TLS, AUTH, limits, callbacks); <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running server; dispose it to stop it.</returns>
    /// <exception cref="ArgumentException">The options set <see cref="SmtpServerOptions.DeliverMime"/> or <see cref="SmtpServerOptions.DeliverLines"/>, which the test server cannot wrap.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">The address or port cannot be bound.</exception>
    public static Task<SmtpTestServer> StartAsync(Action<SmtpTestServerOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var options = new SmtpTestServerOptions();
        configure?.Invoke(options);
        var server = options.Server;
        if (server.DeliverMime is not null || server.DeliverLines is not null)
        {
            throw new ArgumentException(
                "The test server records messages through Server.Deliver; read SmtpReceivedMessage.Mime instead of setting DeliverMime or DeliverLines, or set Deliver to judge each message.",
                nameof(configure));
        }

        if (options.Tls != SmtpTlsMode.None)
        {
            server.ServerCertificate = options.Certificate ?? server.ServerCertificate ?? SmtpTestCertificate.Shared;
        }

        if (options.Credentials is { } credentials)
        {
            RequireAuthentication(server, credentials);
        }

        var faults = new SmtpFaults(options.FaultTimeProvider);
        var smtpServer = new SmtpServer(server, options.LoggerFactory);
        var test = new SmtpTestServer(smtpServer, options, faults);
        WrapCallbacks(server, faults, test);
        smtpServer.Start(new SmtpListener(new IPEndPoint(options.Address, options.Port), ImplicitTls: options.Tls == SmtpTlsMode.ImplicitTls) { Protocol = options.Protocol });
        test.EndPoint = smtpServer.Endpoints[0];
        return Task.FromResult(test);
    }

    /// <summary>
    /// A <see cref="RemoteCertificateValidationCallback"/> for clients of this server: it trusts this server's
    /// certificate, the other test certificates of the process, and certificates that pass the normal checks.
    /// MailKit: <c>client.ServerCertificateValidationCallback = smtp.ValidateServerCertificate</c>.
    /// </summary>
    /// <param name="sender">The TLS stream or client.</param>
    /// <param name="certificate">The certificate presented.</param>
    /// <param name="chain">Its chain.</param>
    /// <param name="sslPolicyErrors">What the normal checks found.</param>
    /// <returns>Whether to trust it.</returns>
    public bool ValidateServerCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors sslPolicyErrors) =>
        SmtpTestCertificate.Validate(sender, certificate, chain, sslPolicyErrors)
        || (certificate is not null && Certificate is not null && SmtpTestCertificate.Hash(certificate) == SmtpTestCertificate.Hash(Certificate));

    /// <summary>
    /// Waits until a message matching <paramref name="predicate"/> has arrived, and returns the first one. A
    /// message that arrived before the call counts too (since the start or the last <see cref="Clear"/>). The
    /// wait is signalled by the delivery itself: it completes as soon as the message is accepted.
    /// </summary>
    /// <param name="predicate">The condition, such as <c>m =&gt; m.IsTo("bob@example.com")</c>; <see langword="null"/> for any message.</param>
    /// <param name="timeout">How long to wait; <see langword="null"/> for <see cref="SmtpTestServerOptions.DefaultWaitTimeout"/> (10 s).</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <param name="predicateExpression">Filled in by the compiler with the predicate's source text, for the timeout message.</param>
    /// <returns>The message.</returns>
    /// <exception cref="SmtpWaitTimeoutException">No matching message arrived in time; the message lists what did arrive.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The server was disposed while waiting.</exception>
    public async Task<SmtpReceivedMessage> WaitForMessageAsync(
        Func<SmtpReceivedMessage, bool>? predicate = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default,
        [CallerArgumentExpression(nameof(predicate))] string? predicateExpression = null) =>
        (await WaitForMessagesAsync(1, predicate, timeout, cancellationToken, predicateExpression))[0];

    /// <summary>
    /// Waits until <paramref name="count"/> messages matching <paramref name="predicate"/> have arrived, and returns
    /// the first <paramref name="count"/> of them in arrival order. Messages that arrived before the call count too.
    /// </summary>
    /// <param name="count">How many; 1 or more.</param>
    /// <param name="predicate">The condition; <see langword="null"/> for any message.</param>
    /// <param name="timeout">How long to wait; <see langword="null"/> for <see cref="SmtpTestServerOptions.DefaultWaitTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <param name="predicateExpression">Filled in by the compiler with the predicate's source text, for the timeout message.</param>
    /// <returns>The messages.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is below 1, or <paramref name="timeout"/> is not positive.</exception>
    /// <exception cref="SmtpWaitTimeoutException">Fewer arrived in time; the message lists what did arrive.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="ObjectDisposedException">The server was disposed while waiting.</exception>
    public async Task<IReadOnlyList<SmtpReceivedMessage>> WaitForMessagesAsync(
        int count,
        Func<SmtpReceivedMessage, bool>? predicate = null,
        TimeSpan? timeout = null,
        CancellationToken cancellationToken = default,
        [CallerArgumentExpression(nameof(predicate))] string? predicateExpression = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var limit = timeout is { } given ? CheckTimeout(given, nameof(timeout)) : _defaultTimeout;
        var waiter = new MessageWaiter(count, predicate);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var message in _messages)
            {
                if (waiter.Offer(message))
                {
                    break;
                }
            }

            if (!waiter.Task.IsCompleted)
            {
                _waiters.Add(waiter);
            }
        }

        try
        {
            return await waiter.Task.WaitAsync(limit, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new SmtpWaitTimeoutException(DescribeTimeout(count, predicateExpression, limit, waiter.Matched), Messages, waiter.Matched);
        }
        finally
        {
            lock (_gate)
            {
                _waiters.Remove(waiter);
            }
        }
    }

    /// <summary>Forgets every message received so far. Waits in progress keep what they have already matched.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _messages.Clear();
        }
    }

    /// <summary>Stops the server, closing open connections with <c>421</c>, and ends pending waits with <see cref="ObjectDisposedException"/>.</summary>
    /// <returns>A task that completes when every connection has closed.</returns>
    public async ValueTask DisposeAsync()
    {
        MessageWaiter[] pending;
        lock (_gate)
        {
            _disposed = true;
            pending = _waiters.ToArray();
            _waiters.Clear();
        }

        foreach (var waiter in pending)
        {
            waiter.Fail(new ObjectDisposedException(nameof(SmtpTestServer), "The test server was disposed while a test waited for messages."));
        }

        await Server.DisposeAsync();
    }

    /// <inheritdoc/>
    public override string ToString() => $"SmtpTestServer {Host}:{Port}{(Tls == SmtpTlsMode.None ? string.Empty : $" ({Tls})")}, {SmtpMessageAssertions.Plural(Messages.Count)}";

    internal static TimeSpan CheckTimeout(TimeSpan timeout, string name) =>
        timeout > TimeSpan.Zero || timeout == Timeout.InfiniteTimeSpan
            ? timeout
            : throw new ArgumentOutOfRangeException(name, timeout, "A timeout is more than zero, or Timeout.InfiniteTimeSpan.");

    private static void RequireAuthentication(SmtpServerOptions server, NetworkCredential credentials)
    {
        var user = credentials.UserName;
        var password = credentials.Password;
        server.RequireAuth = true;
        // The password is known here, so CRAM-MD5 can be offered too, and every client finds a mechanism it likes.
        server.AuthenticationMechanisms |= SmtpAuthenticationMechanisms.CramMd5;
        server.Authenticate = (session, given, ct) =>
        {
            var secretMatches = given.Mechanism switch
            {
                "CRAM-MD5" => given.VerifyCramMd5(password),
                "XOAUTH2" or "OAUTHBEARER" => given.Token == password,
                _ => given.Password == password,
            };
            return ValueTask.FromResult(string.Equals(given.Identity, user, StringComparison.Ordinal) && secretMatches
                ? SmtpVerdict.Accept
                : SmtpVerdict.Reject("wrong test credentials"));
        };
    }

    private static void WrapCallbacks(SmtpServerOptions server, SmtpFaults faults, SmtpTestServer test)
    {
        var deliver = server.Deliver;
        server.Deliver = async (message, ct) =>
        {
            var verdict = deliver is null ? SmtpVerdict.Accept : await deliver(message, ct);
            if (verdict.IsAccepted)
            {
                var raw = new byte[message.Size];
                await using (var content = message.OpenRead())
                {
                    await content.ReadExactlyAsync(raw, ct);
                }

                test.Record(new SmtpReceivedMessage(message.Envelope, raw, new SmtpTestSession(message.Session), message.ReceivedAt));
            }

            return verdict;
        };

        // Outermost, so a fault at the end of a message acts before the message is judged or recorded.
        faults.AttachTo(server);
    }

    private void Record(SmtpReceivedMessage message)
    {
        lock (_gate)
        {
            _messages.Add(message);
            // Waiters complete asynchronously (RunContinuationsAsynchronously), so no test code runs under the lock.
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Offer(message))
                {
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    private string DescribeTimeout(int count, string? predicateExpression, TimeSpan limit, int matched)
    {
        var text = new StringBuilder("Timed out after ")
            .Append(limit == Timeout.InfiniteTimeSpan ? "ever" : limit.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s")
            .Append(" waiting for ").Append(SmtpMessageAssertions.Plural(count));
        if (!string.IsNullOrEmpty(predicateExpression))
        {
            text.Append(" matching ").Append(predicateExpression).Append(" (").Append(matched).Append(" matched)");
        }

        var description = SmtpMessageAssertions.Describe(text.ToString(), Messages);
        var injected = Faults.Injected;
        if (injected.Count > 0)
        {
            description += $"{Environment.NewLine}Faults injected meanwhile: {injected.Count}";
            description = injected.Take(20).Aggregate(description, (all, fault) => $"{all}{Environment.NewLine}  {fault}");
        }

        return description;
    }

    /// <summary>One pending wait: its condition, what it has matched so far, and the task the test awaits.</summary>
    private sealed class MessageWaiter(int count, Func<SmtpReceivedMessage, bool>? predicate)
    {
        private readonly List<SmtpReceivedMessage> _matches = [];
        private readonly TaskCompletionSource<IReadOnlyList<SmtpReceivedMessage>> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<IReadOnlyList<SmtpReceivedMessage>> Task => _completion.Task;

        public int Matched => Volatile.Read(ref _matched);

        private int _matched;

        /// <summary>Considers one message; returns whether the wait is over (complete or failed).</summary>
        public bool Offer(SmtpReceivedMessage message)
        {
            if (_completion.Task.IsCompleted)
            {
                return true;
            }

            try
            {
                if (predicate is not null && !predicate(message))
                {
                    return false;
                }
            }
#pragma warning disable CA1031 // A throwing predicate is the test's bug: it fails that wait, never the delivery.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _completion.TrySetException(new InvalidOperationException($"The wait's predicate threw on {message}.", ex));
                return true;
            }

            _matches.Add(message);
            Volatile.Write(ref _matched, _matches.Count);
            if (_matches.Count < count)
            {
                return false;
            }

            _completion.TrySetResult(_matches.ToArray());
            return true;
        }

        public void Fail(Exception exception) => _completion.TrySetException(exception);
    }
}
