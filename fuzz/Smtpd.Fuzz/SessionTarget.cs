using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Smtpd.Fuzz;

/// <summary>
/// A whole session from a byte stream: the input is what a client sends to a real server over loopback, in pieces
/// whose size the first octet picks; then the client half-closes and reads to the end. Crashes are: anything logged at
/// Error (the session's catch-all logs "Session failed unexpectedly"), a malformed reply line, a reply code the server
/// has no business sending, a session that does not end within 10 seconds of the input's end, or more deliveries than
/// "Message accepted" replies.
/// </summary>
internal static partial class SessionTarget
{
    private static readonly ErrorLogger Logs = new();
    private static int s_deliveries;
    private static readonly Lazy<SmtpServer> Server = new(StartServer);

    public static void Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return;
        }

        var server = Server.Value;
        var piece = input[0] switch { < 64 => 1, < 128 => 7, < 192 => 64, _ => int.MaxValue };
        var script = input.AsMemory(1);
        Interlocked.Exchange(ref s_deliveries, 0);

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(server.Endpoints[0]);
        var reading = ReadToEndAsync(socket);
        try
        {
            for (var offset = 0; offset < script.Length; offset += Math.Min(piece, script.Length - offset))
            {
                socket.Send(script.Span.Slice(offset, Math.Min(piece, script.Length - offset)));
            }

            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server closed first (QUIT, an error limit).
        }

        Check.That(reading.Wait(TimeSpan.FromSeconds(10)), "the session ends within 10 s of the end of its input");
        var replies = reading.Result;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (server.SessionCount > 0)
        {
            Check.That(DateTime.UtcNow < deadline, "the server releases the session");
            Thread.Sleep(1);
        }

        Logs.ThrowIfAny();
        CheckReplies(replies);
    }

    private static void CheckReplies(byte[] raw)
    {
        // After an accepted STARTTLS the server speaks TLS to a client that is not; only the part before is SMTP.
        var text = Encoding.Latin1.GetString(raw);
        var tls = StartTlsAccepted().Match(text);
        if (tls.Success)
        {
            text = text[..(tls.Index + tls.Length)];
        }

        Check.That(text.Length == 0 || text.EndsWith("\r\n", StringComparison.Ordinal), "replies end with CRLF");
        var accepted = 0;
        foreach (var line in text.Split("\r\n")[..^1])
        {
            Check.That(ReplyLine().IsMatch(line), $"well-formed reply line: {line}");
            // The EHLO/HELO reply echoes the client's name, which may be UTF-8 (a known issue; docs/hardening.md).
            Check.That(HeloReply().IsMatch(line) || line.All(c => c is >= ' ' and < '\x7f'), $"printable ASCII reply: {line}");
            Check.That(KnownCodes.Contains(line[..3]), $"a reply code the server may send: {line}");
            accepted += line is "250 2.0.0 Message accepted" or "250 Message accepted" ? 1 : 0;
        }

        Check.That(Volatile.Read(ref s_deliveries) == accepted, $"{accepted} 'Message accepted' replies for {s_deliveries} deliveries");
    }

    private static readonly HashSet<string> KnownCodes = ["214", "220", "221", "235", "250", "252", "334", "354", "421", "451", "452", "500", "501", "502", "503", "504", "530", "535", "538", "550", "552", "553", "554", "555"];

    [GeneratedRegex(@"^\d{3}([ -][\x20-\xff]*)?$")]
    private static partial Regex ReplyLine();

    [GeneratedRegex(@"^250[ -]fuzz\.local Hello ")]
    private static partial Regex HeloReply();

    [GeneratedRegex(@"(^|\n)220 (2\.0\.0 )?Ready to start TLS\r\n")]
    private static partial Regex StartTlsAccepted();

    private static async Task<byte[]> ReadToEndAsync(Socket socket)
    {
        using var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException)
        {
            // A reset after the server's last reply.
        }

        return received.ToArray();
    }

    private static SmtpServer StartServer()
    {
        var options = new SmtpServerOptions
        {
            ServerName = "fuzz.local",
            MaxMessageSize = 8 * 1024,
            MaxRecipients = 3,
            MaxErrors = 10,
            MessageMemoryThreshold = 4096,
            CommandTimeout = TimeSpan.FromSeconds(5),
            DataTimeout = TimeSpan.FromSeconds(5),
            TlsHandshakeTimeout = TimeSpan.FromSeconds(2),
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
        var server = new SmtpServer(options, Logs);
        server.Start(IPAddress.Loopback, 0);
        return server;
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
