using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using Smtpd.Catcher;
using Smtpd.Cli.Configuration;
using Smtpd.Cli.Output;

namespace Smtpd.Cli.Catcher;

/// <summary>
/// The command-line shell around <see cref="MailCatcher"/>: turns the flags into <see cref="CatcherOptions"/>,
/// reports on stdout, and drains on SIGINT or SIGTERM.
/// </summary>
internal static class CatcherRunner
{
    /// <summary>Runs the catcher until SIGINT or SIGTERM, then drains and closes the store.</summary>
    /// <param name="settings">The settings.</param>
    /// <param name="stdout">Where the events go.</param>
    /// <param name="stderr">Where errors and transcripts go.</param>
    /// <param name="stop">Completes when the catcher should stop (tests and the signal handlers complete it).</param>
    /// <returns>The exit code: 0 after a clean shutdown.</returns>
    /// <exception cref="SettingException">A flag's value turned out unusable (certificate, store, Maildir, port).</exception>
    public static async Task<int> RunAsync(CatcherSettings settings, Stream stdout, TextWriter stderr, CancellationToken stop)
    {
        var signalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var forced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            // Handled here: the runtime would otherwise end the process before the drain. A second signal cuts the
            // drain short.
            context.Cancel = true;
            if (!signalled.TrySetResult())
            {
                forced.TrySetResult();
            }
        }

        // Registered before anything starts: a reader that signals as soon as it sees the listening events must find
        // the handler in place, or the runtime's own SIGTERM handling races the drain and the process can hang; and
        // a signal while the listeners are still starting stops the catcher cleanly once they have.
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        var mode = settings.Json ? OutputMode.Json : settings.Quiet ? OutputMode.Quiet : OutputMode.Human;
        var events = new EventWriter(stdout, mode);
        var level = settings.Verbose ? LogLevel.Trace : settings.Quiet ? LogLevel.Error : LogLevel.Warning;
        using var logging = new StderrLoggerProvider(stderr, level);
        using var certificate = LoadCertificate(settings, out var certificateSource);
        var options = ToOptions(settings, certificate);
        await using var catcher = new MailCatcher(options, logging);
        catcher.MessageStored += events.Message;
        catcher.MessagesPruned += events.Pruned;
        Start(catcher, settings);
        await using var http = await HttpHost.StartAsync(catcher, settings, certificate, logging);

        // HTTP first: a reader waiting for the SMTP listeners has then seen every listening event.
        foreach (var endPoint in http?.EndPoints ?? [])
        {
            events.HttpListening(endPoint, settings.HttpTls);
        }

        foreach (var listener in catcher.Listeners)
        {
            events.Listening(listener);
        }

        foreach (var endPoint in catcher.Pop3EndPoints)
        {
            events.Pop3Listening(endPoint);
        }

        var startup = StartupLine(catcher, settings, certificate, certificateSource);
        if (http is not null)
        {
            startup = startup.Replace("; Ctrl-C to stop", $"; inbox and HTTP API on {string.Join(", ", http.EndPoints.Select(e => $"{(settings.HttpTls ? "https" : "http")}://{e}{settings.BasePath}/"))}{(settings.HttpSecurity.AuthenticationEnabled ? $" (login for {settings.HttpSecurity.UserNames.Count} user(s))" : "")}; Ctrl-C to stop", StringComparison.Ordinal);
        }

        if (catcher.Pop3EndPoints.Count > 0)
        {
            startup = startup.Replace("; Ctrl-C to stop", $"; POP3 on {string.Join(", ", catcher.Pop3EndPoints)}; Ctrl-C to stop", StringComparison.Ordinal);
        }

        events.Startup(startup);

        using (stop.Register(() => signalled.TrySetResult()))
        {
            await signalled.Task;
        }

        if (!settings.Quiet && !settings.Json)
        {
            await stderr.WriteLineAsync($"smtpd: stopping; waiting up to {CatcherSettings.DrainTimeout.TotalSeconds:0} s for transfers in flight (press Ctrl-C again to cut them off)");
        }

        using var cutShort = new CancellationTokenSource();
        _ = forced.Task.ContinueWith(_ => cutShort.Cancel(), TaskScheduler.Default);
        if (http is not null)
        {
            await http.DisposeAsync();
        }

        await catcher.StopAsync(CatcherSettings.DrainTimeout, cutShort.Token);
        return 0;
    }

    /// <summary>Maps the flags onto the catcher's options.</summary>
    /// <param name="s">The settings.</param>
    /// <param name="certificate">The loaded certificate, if any.</param>
    /// <returns>The options.</returns>
    public static CatcherOptions ToOptions(CatcherSettings s, X509Certificate2? certificate)
    {
        var options = new CatcherOptions
        {
            DatabasePath = s.NoStore ? null : s.DatabasePath,
            DatabaseConnectionString = s.NoStore ? null : s.DatabaseConnectionString,
            Retain = s.Retain,
            RetainAge = s.RetainAge,
            RetainSize = s.RetainSize,
            Maildir = s.Maildir,
            AuthAny = s.AuthAny,
            Metrics = s.Metrics,
        };
        options.Chaos.Enabled = s.EnableChaos;
        options.Http.AllowInternalLinkChecks = s.AllowInternalHttpRequests;
        foreach (var rule in s.Mailboxes)
        {
            options.Mailboxes.Add(rule);
        }

        options.Chaos.Triggers = s.ChaosTriggers;
        options.Chaos.Seed = s.ChaosSeed;
        foreach (var script in s.ChaosScripts)
        {
            options.Chaos.Scripts.Add(script);
        }

        var smtp = options.Smtp;
        smtp.ServerCertificate = certificate;
        smtp.RequireTls = s.RequireTls;
        smtp.RequireAuth = s.RequireAuth;
        smtp.EnableDsn = !s.NoDsn;
        if (s.Hostname is { } hostname)
        {
            smtp.ServerName = hostname;
        }

        if (s.MaxSize is { } size)
        {
            smtp.MaxMessageSize = size;
        }

        if (s.MaxRecipients is { } recipients)
        {
            smtp.MaxRecipients = recipients;
        }

        if (s.MaxConnections is { } connections)
        {
            smtp.MaxSessions = connections;
        }

        if (s.MaxConnectionsPerIp is { } perIp)
        {
            smtp.MaxSessionsPerClient = perIp;
        }

        if (s.CapLoopback)
        {
            smtp.MaxSessionsPerClientExemptions = [];
        }

        if (s.BareLineEndings is { } bareLineEndings)
        {
            smtp.BareLineEndings = bareLineEndings;
        }

        if (s.Timeout is { } timeout)
        {
            smtp.CommandTimeout = timeout;
            smtp.DataTimeout = timeout;
        }

        foreach (var listener in s.Listeners)
        {
            // One PROXY setting for every SMTP listener: the tool's listeners all sit behind the same balancer or none.
            options.Listeners.Add(new SmtpListener(listener.EndPoint, listener.ImplicitTls)
            {
                ProxyProtocol = s.ProxyProtocol,
                TrustedProxies = s.TrustedProxies,
            });
        }

        AddAll(options.RejectHosts, s.RejectHosts);
        AddAll(options.AllowSenders, s.AllowSenders);
        AddAll(options.RejectSenders, s.RejectSenders);
        AddAll(options.AllowRecipients, s.AllowRecipients);
        AddAll(options.RejectRecipients, s.RejectRecipients);
        foreach (var (user, password) in s.AuthUsers)
        {
            options.AuthUsers[user] = password;
        }

        AddAll(options.Pop3.EndPoints, s.Pop3EndPoints);
        foreach (var (user, password) in s.Pop3Users)
        {
            options.Pop3.Users[user] = password;
        }

        s.Hooks.Apply(options);
        return options;
    }

    private static void AddAll<T>(IList<T> target, IEnumerable<T> values)
    {
        foreach (var value in values)
        {
            target.Add(value);
        }
    }

    private static X509Certificate2? LoadCertificate(CatcherSettings settings, out string? source)
    {
        source = null;
        if (settings.TlsCert is { } certPath)
        {
            source = certPath;
            return Certificates.Load(certPath, settings.TlsKey);
        }

        if (settings.TlsSelfSigned)
        {
            var path = Path.Combine(Path.GetDirectoryName(settings.DatabasePath)!, Certificates.SelfSignedFileName);
            source = $"self-signed {path}";
            return Certificates.LoadOrCreateSelfSigned(path);
        }

        return null;
    }

    private static void Start(MailCatcher catcher, CatcherSettings settings)
    {
        try
        {
            catcher.Start();
        }
        catch (CatcherConfigurationException ex)
        {
            var flag = ex.Setting switch
            {
                nameof(CatcherOptions.Maildir) => Flags.Maildir.Option,
                nameof(CatcherOptions.Pop3) => Flags.Pop3.Option,
                _ => Flags.Db.Option,
            };
            throw new SettingException(flag, ex.Message);
        }
        catch (SocketException ex)
        {
            // The core binds all or none; find the listener that failed so the message names it.
            var culprit = settings.Listeners.FirstOrDefault(l => !CanBind(l.EndPoint))
                ?? settings.Pop3EndPoints.Where(e => !CanBind(e)).Select(e => new ListenerSetting(e, false, Flags.Pop3.Option)).FirstOrDefault()
                ?? settings.Listeners[0];
            var reason = ex.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => "the port is already in use",
                SocketError.AddressNotAvailable => "the address is not on this machine",
                SocketError.AccessDenied => "permission denied (ports below 1024 need privileges)",
                _ => ex.Message,
            };
            throw new SettingException(culprit.Label, $"cannot listen on {culprit.EndPoint}: {reason}");
        }
    }

    private static string StartupLine(MailCatcher catcher, CatcherSettings settings, X509Certificate2? certificate, string? certificateSource)
    {
        var where = string.Join(", ", catcher.Listeners.Select(l => l.EndPoint + (l.ImplicitTls ? " (SMTPS)" : "")));
        var storing = catcher.StoreLocation is { } path
            ? $"storing in {path}" + (settings.Retain > 0 ? $" (newest {settings.Retain} kept)" : "")
            : "storing nothing (--no-store)";
        if (catcher.MaildirPath is { } maildir)
        {
            storing += $", Maildir {maildir}";
        }

        var extras = new StringBuilder();
        if (certificate is not null)
        {
            extras.Append(CultureInfo.InvariantCulture, $"; TLS {certificateSource} (SHA-256 {certificate.GetCertHashString(HashAlgorithmName.SHA256)})");
        }

        if (settings.ProxyProtocol)
        {
            extras.Append(CultureInfo.InvariantCulture, $"; PROXY protocol required from {string.Join(", ", settings.TrustedProxies)}");
        }

        if (settings.AuthEnabled)
        {
            extras.Append(settings.AuthAny ? "; AUTH accepts anyone" : $"; AUTH for {settings.AuthUsers.Count} user(s)");
        }

        if (settings.EnableChaos)
        {
            // The seed is what replays a run that failed by chaos.
            extras.Append(CultureInfo.InvariantCulture, $"; chaos on (seed {catcher.Chaos.Seed})");
        }

        return $"smtpd listening on {Terminal.Bold(where)}, {storing}{extras}; Ctrl-C to stop";
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
