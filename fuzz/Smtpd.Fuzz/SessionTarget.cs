using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Smtpd.Fuzz;

/// <summary>
/// A whole session from a byte stream, in memory: the input is what a client sends, fed to the library's I/O-free
/// <c>SmtpProtocol</c> (through <c>InMemorySmtpSession</c>) in pieces whose size the first octet picks. No socket, no
/// thread hop: one execution is a few microseconds of protocol instead of a loopback connection. Crashes are: any
/// exception out of the protocol (the connection would log it as "Session failed unexpectedly"), anything logged at
/// Error, a malformed reply line, a reply code the server has no business sending, or more deliveries than
/// "Message accepted" replies.
/// </summary>
internal static partial class SessionTarget
{
    private static readonly ErrorLogger Logs = new();
    private static int s_deliveries;
    private static readonly Lazy<SmtpServerOptions> Options = new(CreateOptions);

    public static void Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return;
        }

        var piece = input[0] switch { < 64 => 1, < 128 => 7, < 192 => 64, _ => int.MaxValue };
        var script = input.AsMemory(1);
        Interlocked.Exchange(ref s_deliveries, 0);

        var session = Internals.NewInMemorySession(Options.Value, lmtp: false, Logs.CreateLogger("fuzz"), time: null, remoteEndPoint: null);
        try
        {
            Wait(Internals.Start(session));
            for (var offset = 0; offset < script.Length && !Internals.IsClosed(session); offset += Math.Min(piece, script.Length - offset))
            {
                Wait(Internals.Feed(session, script.Slice(offset, Math.Min(piece, script.Length - offset))));
            }

            Logs.ThrowIfAny();
            CheckReplies(Internals.TakeReplyBytes(session));
        }
        finally
        {
            ((IDisposable)session).Dispose();
        }
    }

    private static void Wait(ValueTask pending)
    {
        if (pending.IsCompletedSuccessfully)
        {
            return;
        }

        pending.AsTask().GetAwaiter().GetResult();
    }

    private static void CheckReplies(byte[] raw)
    {
        // In memory there is no TLS: a session that accepted STARTTLS stops at its 220.
        var text = Encoding.Latin1.GetString(raw);

        Check.That(text.Length == 0 || text.EndsWith("\r\n", StringComparison.Ordinal), "replies end with CRLF");
        var accepted = 0;
        foreach (var line in text.Split("\r\n")[..^1])
        {
            Check.That(ReplyLine().IsMatch(line), $"well-formed reply line: {line}");
            // Replies are printable ASCII (RFC 5321 4.2), the EHLO reply's echo of a UTF-8 client name included.
            Check.That(line.All(c => c is >= ' ' and < '\x7f'), $"printable ASCII reply: {line}");
            Check.That(KnownCodes.Contains(line[..3]), $"a reply code the server may send: {line}");
            accepted += line is "250 2.0.0 Message accepted" or "250 Message accepted" ? 1 : 0;
        }

        Check.That(Volatile.Read(ref s_deliveries) == accepted, $"{accepted} 'Message accepted' replies for {s_deliveries} deliveries");
    }

    private static readonly HashSet<string> KnownCodes = ["214", "220", "221", "235", "250", "252", "334", "354", "421", "451", "452", "500", "501", "502", "503", "504", "530", "535", "538", "550", "552", "553", "554", "555"];

    [GeneratedRegex(@"^\d{3}([ -][\x20-\xff]*)?$")]
    private static partial Regex ReplyLine();

    private static SmtpServerOptions CreateOptions()
    {
        var options = new SmtpServerOptions
        {
            ServerName = "fuzz.local",
            MaxMessageSize = 8 * 1024,
            MaxRecipients = 3,
            MaxErrors = 10,
            MessageMemoryThreshold = 4096,
            ServerCertificate = SelfSigned(),
            AllowInsecureAuth = true,
            Authenticate = (_, c, _) => ValueTask.FromResult(c.Identity == "alice" && c.Password == "pw" ? SmtpVerdict.Accept : SmtpVerdict.Reject()),
            ValidateRecipient = (_, r, _) => ValueTask.FromResult(r.LocalPart == "reject" ? SmtpVerdict.Reject() : SmtpVerdict.Accept),
            Deliver = async (message, ct) =>
            {
                await using var stream = message.OpenRead();
                await stream.CopyToAsync(Stream.Null, ct);
                Interlocked.Increment(ref s_deliveries);
                return SmtpVerdict.Accept;
            },
        };
        return options;
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 SelfSigned()
    {
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=localhost", key, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        return System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
    }

    /// <summary>Remembers the first entry logged at Error or above.</summary>
    private sealed class ErrorLogger : ILoggerFactory, ILogger
    {
        private string? _error;

        public void ThrowIfAny()
        {
            if (Interlocked.Exchange(ref _error, null) is { } error)
            {
                throw new InvariantViolatedException("logged at Error: " + error);
            }
        }

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error)
            {
                Interlocked.CompareExchange(ref _error, $"{formatter(state, exception)} {exception}", null);
            }
        }
    }
}
