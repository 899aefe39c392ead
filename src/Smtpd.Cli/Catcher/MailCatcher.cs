using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using Smtpd.Cli.Configuration;
using Smtpd.Cli.Output;
using Smtpd.Cli.Storage;

namespace Smtpd.Cli.Catcher;

/// <summary>
/// The catcher: an <see cref="SmtpServer"/> whose delivery callback stores each message (and writes it to a
/// Maildir) before it answers 250, with the policies, TLS and AUTH the flags ask for.
/// </summary>
internal sealed class MailCatcher : IAsyncDisposable
{
    private readonly CatcherSettings _settings;
    private readonly EventWriter _events;
    private readonly TextWriter _stderr;
    private readonly StderrLoggerProvider _logging;
    private X509Certificate2? _certificate;
    private string? _certificateSource;
    private StoreWriter? _store;
    private MaildirWriter? _maildir;
    private SmtpServer? _server;

    private MailCatcher(CatcherSettings settings, EventWriter events, TextWriter stderr)
    {
        _settings = settings;
        _events = events;
        _stderr = stderr;
        var level = settings.Verbose ? LogLevel.Trace : settings.Quiet ? LogLevel.Error : LogLevel.Warning;
        _logging = new StderrLoggerProvider(stderr, level);
    }

    /// <summary>Runs the catcher until SIGINT or SIGTERM, then drains and closes the store.</summary>
    /// <param name="settings">The settings.</param>
    /// <param name="stdout">Where the events go.</param>
    /// <param name="stderr">Where errors and transcripts go.</param>
    /// <param name="stop">Completes when the catcher should stop (tests and the signal handlers complete it).</param>
    /// <returns>The exit code: 0 after a clean shutdown.</returns>
    /// <exception cref="SettingException">A flag's value turned out unusable (certificate, store, Maildir, port).</exception>
    public static async Task<int> RunAsync(CatcherSettings settings, Stream stdout, TextWriter stderr, CancellationToken stop)
    {
        var mode = settings.Json ? OutputMode.Json : settings.Quiet ? OutputMode.Quiet : OutputMode.Human;
        await using var catcher = new MailCatcher(settings, new EventWriter(stdout, mode), stderr);
        catcher.Open();
        catcher.Start();
        await catcher.WaitAndDrainAsync(stop);
        return 0;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.CloseAsync();
            _store.Dispose();
        }

        _certificate?.Dispose();
        _logging.Dispose();
    }

    private void Open()
    {
        if (_settings.TlsCert is { } certPath)
        {
            _certificate = Certificates.Load(certPath, _settings.TlsKey);
            _certificateSource = certPath;
        }
        else if (_settings.TlsSelfSigned)
        {
            var path = Path.Combine(Path.GetDirectoryName(_settings.DatabasePath)!, Certificates.SelfSignedFileName);
            _certificate = Certificates.LoadOrCreateSelfSigned(path);
            _certificateSource = $"self-signed {path}";
        }

        if (_settings.Maildir is { } maildir)
        {
            try
            {
                _maildir = new MaildirWriter(maildir);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new SettingException(Flags.Maildir.Option, $"cannot use {maildir} as a Maildir: {ex.Message}");
            }
        }

        if (!_settings.NoStore)
        {
            try
            {
                _store = new StoreWriter(_settings.DatabasePath, _settings.Retain);
            }
            catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                throw new SettingException(Flags.Db.Option, $"cannot open the store {_settings.DatabasePath}: {ex.Message}");
            }
        }
    }

    private SmtpServerOptions BuildOptions()
    {
        var s = _settings;
        var options = new SmtpServerOptions
        {
            // The rule for a local catcher: AUTH works over plaintext, as test applications expect.
            AllowInsecureAuth = true,
            Deliver = DeliverAsync,
            ServerCertificate = _certificate,
            RequireTls = s.RequireTls,
            RequireAuth = s.RequireAuth,
            EnableDsn = !s.NoDsn,
            Banner = "ESMTP smtpd mail catcher ready",
        };
        if (s.Hostname is { } hostname)
        {
            options.ServerName = hostname;
        }

        if (s.MaxSize is { } size)
        {
            options.MaxMessageSize = size;
        }

        if (s.MaxRecipients is { } recipients)
        {
            options.MaxRecipients = recipients;
        }

        if (s.MaxConnections is { } connections)
        {
            options.MaxSessions = connections;
        }

        if (s.MaxConnectionsPerIp is { } perIp)
        {
            options.MaxSessionsPerClient = perIp;
        }

        if (s.Timeout is { } timeout)
        {
            options.CommandTimeout = timeout;
            options.DataTimeout = timeout;
        }

        if (s.RejectHosts.Count > 0)
        {
            options.ValidateHost = ValidateHost;
        }

        if (s.AllowSenders.Count > 0 || s.RejectSenders.Count > 0)
        {
            options.ValidateSender = (session, sender, ct) => ValueTask.FromResult(Check(sender?.Address ?? string.Empty, s.AllowSenders, s.RejectSenders));
        }

        if (s.AllowRecipients.Count > 0 || s.RejectRecipients.Count > 0)
        {
            options.ValidateRecipient = (session, recipient, ct) => ValueTask.FromResult(Check(recipient.Address, s.AllowRecipients, s.RejectRecipients));
        }

        if (s.AuthEnabled)
        {
            options.Authenticate = Authenticate;
        }

        return options;
    }

    private void Start()
    {
        _server = new SmtpServer(BuildOptions(), _logging);
        var listeners = _settings.Listeners.Select(l => new SmtpListener(l.EndPoint, l.ImplicitTls)).ToArray();
        try
        {
            _server.Start(listeners);
        }
        catch (SocketException ex)
        {
            // The core binds all or none; find the listener that failed so the message names it.
            var culprit = _settings.Listeners.FirstOrDefault(l => !CanBind(l.EndPoint)) ?? _settings.Listeners[0];
            var reason = ex.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => "the port is already in use",
                SocketError.AddressNotAvailable => "the address is not on this machine",
                SocketError.AccessDenied => "permission denied (ports below 1024 need privileges)",
                _ => ex.Message,
            };
            throw new SettingException(culprit.Label, $"cannot listen on {culprit.EndPoint}: {reason}");
        }

        foreach (var listener in _server.Listeners)
        {
            _events.Listening(listener);
        }

        var where = string.Join(", ", _server.Listeners.Select(l => l.EndPoint + (l.ImplicitTls ? " (SMTPS)" : "")));
        var storing = _store is not null
            ? $"storing in {_store.Path}" + (_settings.Retain > 0 ? $" (newest {_settings.Retain} kept)" : "")
            : "storing nothing (--no-store)";
        if (_maildir is not null)
        {
            storing += $", Maildir {_maildir.Directory}";
        }

        var extras = new StringBuilder();
        if (_certificate is not null)
        {
            extras.Append(CultureInfo.InvariantCulture, $"; TLS {_certificateSource} (SHA-256 {_certificate.GetCertHashString(HashAlgorithmName.SHA256)})");
        }

        if (_settings.AuthEnabled)
        {
            extras.Append(_settings.AuthAny ? "; AUTH accepts anyone" : $"; AUTH for {_settings.AuthUsers.Count} user(s)");
        }

        _events.Startup($"smtpd listening on {Terminal.Bold(where)}, {storing}{extras}; Ctrl-C to stop");
    }

    private async Task WaitAndDrainAsync(CancellationToken stop)
    {
        var signalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var forced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            // Handled here: the runtime would otherwise end the process before the drain.
            context.Cancel = true;
            if (!signalled.TrySetResult())
            {
                forced.TrySetResult();
            }
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var registration = stop.Register(() => signalled.TrySetResult());
        await signalled.Task;

        if (!_settings.Quiet && !_settings.Json)
        {
            await _stderr.WriteLineAsync($"smtpd: stopping; waiting up to {CatcherSettings.DrainTimeout.TotalSeconds:0} s for transfers in flight (press Ctrl-C again to cut them off)");
        }

        // New connections are refused at once; idle sessions get 421 now, transactions in flight finish and then get
        // 421 instead of another (the library's drain).
        using var cutShort = new CancellationTokenSource();
        _ = forced.Task.ContinueWith(_ => cutShort.Cancel(), TaskScheduler.Default);
        await _server!.StopAsync(CatcherSettings.DrainTimeout, cutShort.Token);

        // Every session has ended, so nothing more can be queued: commit what is left and close the store.
        if (_store is not null)
        {
            await _store.CloseAsync();
        }
    }

    private async ValueTask<SmtpVerdict> DeliverAsync(SmtpMessage message, CancellationToken cancellationToken)
    {
        var analyzed = await MessageAnalyzer.AnalyzeAsync(message, cancellationToken);
        var record = analyzed.Record;
        string? id = null;
        if (_maildir is not null)
        {
            id = await _maildir.WriteAsync(message, cancellationToken);
        }

        if (_store is not null)
        {
            // Not cancellable: once queued, the writer may read the content, so this callback (and with it the
            // content) must outlive the commit. The wait is short; the 250 is sent only after it.
            var stored = await _store.StoreAsync(record, analyzed.Content, message.OpenRead);
            id = stored.ToString(CultureInfo.InvariantCulture);
            record = record with { Id = stored };
        }

        id ??= Guid.CreateVersion7().ToString("N");
        _events.Message(id, record);
        return SmtpVerdict.AcceptWith(new SmtpReply(250, "2.0.0", _store is not null ? $"Ok: stored as {id}" : $"Ok: {id}"));
    }

    private ValueTask<SmtpVerdict> ValidateHost(SmtpSessionContext session, CancellationToken cancellationToken)
    {
        var address = session.RemoteEndPoint.Address;
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        // No reason text: the client gets exactly "550 Access denied", the Tcl validate_host reply.
        return ValueTask.FromResult(_settings.RejectHosts.Any(n => n.Contains(address)) ? SmtpVerdict.Reject() : SmtpVerdict.Accept);
    }

    private static SmtpVerdict Check(string address, IReadOnlyList<System.Text.RegularExpressions.Regex> allow, IReadOnlyList<System.Text.RegularExpressions.Regex> reject)
    {
        if (allow.Count > 0 && !allow.Any(r => r.IsMatch(address)))
        {
            return SmtpVerdict.Reject("not matched by an --allow pattern");
        }

        return reject.Any(r => r.IsMatch(address)) ? SmtpVerdict.Reject("matched by a --reject pattern") : SmtpVerdict.Accept;
    }

    private ValueTask<SmtpVerdict> Authenticate(SmtpSessionContext session, SmtpAuthentication credentials, CancellationToken cancellationToken)
    {
        if (_settings.AuthAny)
        {
            return ValueTask.FromResult(SmtpVerdict.Accept);
        }

        var ok = credentials.Password is { } password
            && _settings.AuthUsers.TryGetValue(credentials.Identity, out var expected)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(password), Encoding.UTF8.GetBytes(expected));
        return ValueTask.FromResult(ok ? SmtpVerdict.Accept : SmtpVerdict.Reject("wrong user or password"));
    }

    private static bool CanBind(IPEndPoint endpoint)
    {
        try
        {
            using var probe = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(endpoint);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
