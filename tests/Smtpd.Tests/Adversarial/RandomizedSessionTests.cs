using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Smtpd.Tests.Adversarial;

/// <summary>
/// A deterministic randomized test: thousands of generated sessions, a third of them mutated at the octet level,
/// pushed through two real servers over loopback (one with <c>BareLineEndings = Reject</c> and a certificate, one
/// with <c>Normalize</c>), checking the invariants of issue 7 after every session:
/// <list type="bullet">
/// <item>no exception escapes: nothing is logged at Error or above (the session's catch-all logs "Session failed unexpectedly");</item>
/// <item>every reply line is well-formed (<c>^\d{3}[ -]</c>, printable, CRLF-terminated) and its code is one the server may send;</item>
/// <item>memory is bounded: the heap after a full collection stays within a fixed margin, and the spool is left empty;</item>
/// <item>the state stays consistent: each "Message accepted" reply matches exactly one delivery of that session,
/// and every delivery has a sender state, one to <c>MaxRecipients</c> recipients and at most <c>MaxMessageSize</c> octets.</item>
/// </list>
/// Session <c>i</c> is generated from <c>Seed + i</c> alone, so a failure names a session that can be replayed.
/// </summary>
[Collection(nameof(ResourceSerialGroup))]
public sealed partial class RandomizedSessionTests
{
    private const int Seed = 7_000_007;
    private const int DefaultSessions = 3000;
    private const int MaxMessageSize = 32 * 1024;
    private const int MaxRecipients = 4;

    private static readonly HashSet<int> KnownCodes = [214, 220, 221, 235, 250, 252, 334, 354, 421, 451, 452, 500, 501, 502, 503, 504, 530, 535, 538, 550, 552, 553, 554, 555];

    /// <summary>How many sessions: 3000 by default; <c>SMTPD_HARDENING_RANDOM_SESSIONS</c> runs more (or fewer) on demand.</summary>
    private static int Sessions =>
        int.TryParse(Environment.GetEnvironmentVariable("SMTPD_HARDENING_RANDOM_SESSIONS"), out var sessions) && sessions > 0 ? sessions : DefaultSessions;

    [Fact]
    public async Task ThousandsOfRandomAndMutatedSessionsKeepEveryInvariant()
    {
        var spool = Directory.CreateTempSubdirectory("smtpd-random-");
        var logs = new CapturingLoggerProvider();
        var deliveries = new ConcurrentDictionary<int, int>();
        var violations = new ConcurrentQueue<string>();
        var slow = new ConcurrentQueue<string>();
        try
        {
            await using var reject = StartServer(BareLineEndingPolicy.Reject, withTls: true);
            await using var normalize = StartServer(BareLineEndingPolicy.Normalize, withTls: false);
            var clock = Stopwatch.StartNew();
            var heapBefore = Heap();
            long heapPeak = 0;
            var mutated = 0;
            var accepted = 0;
            var resets = 0;

            for (var batch = 0; batch < Sessions; batch += 250)
            {
                await Parallel.ForEachAsync(
                    Enumerable.Range(batch, Math.Min(250, Sessions - batch)),
                    new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = TestContext.Current.CancellationToken },
                    async (index, ct) =>
                    {
                        var random = new Random(Seed + index);
                        var generator = new SessionGenerator(random);
                        var script = generator.Next();
                        if (random.NextDouble() < 0.33)
                        {
                            script = Mutator.Mutate(script, random);
                            Interlocked.Increment(ref mutated);
                        }

                        var server = index % 2 == 0 ? reject : normalize;
                        var started = Stopwatch.GetTimestamp();
                        var outcome = await RunSessionAsync(server.Endpoints[0], script, random, ct);
                        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        if (ms > 500)
                        {
                            slow.Enqueue($"session {index}: {ms:F0} ms, {script.Length} octets");
                        }
                        Interlocked.Add(ref accepted, CheckSession(index, outcome, deliveries, violations));
                        if (outcome.Transcript.ResetByServer)
                        {
                            Interlocked.Increment(ref resets);
                        }
                    });

                Drain(logs, violations);
                heapPeak = Math.Max(heapPeak, Heap() - heapBefore);
                Assert.True(violations.IsEmpty, string.Join("\n", violations.Take(10)));
            }

            await Eventually.WaitUntilAsync(() => reject.SessionCount == 0 && normalize.SessionCount == 0, "every session ended");
            Drain(logs, violations);
            Assert.True(violations.IsEmpty, string.Join("\n", violations.Take(10)));
            foreach (var line in slow.Take(20))
            {
                TestContext.Current.SendDiagnosticMessage(line);
            }

            TestContext.Current.SendDiagnosticMessage(
                $"{Sessions} sessions ({mutated} mutated, {resets} reset by the server) in {clock.ElapsedMilliseconds} ms; {accepted} messages accepted; heap peak +{heapPeak / 1024} KiB");
            Assert.True(heapPeak < 32L * 1024 * 1024, $"The heap grew by {heapPeak / 1024} KiB.");
            Assert.Empty(spool.EnumerateFiles());
            Assert.InRange(accepted, Sessions / 20, Sessions * 4);
        }
        finally
        {
            spool.Delete(recursive: true);
        }

        SmtpServer StartServer(BareLineEndingPolicy policy, bool withTls)
        {
            var options = new SmtpServerOptions
            {
                ServerName = "fuzz.local",
                BareLineEndings = policy,
                MaxMessageSize = MaxMessageSize,
                MaxRecipients = MaxRecipients,
                MaxErrors = 12,
                MaxAuthFailures = 2,
                MessageMemoryThreshold = 4096,
                SpoolDirectory = spool.FullName,
                CommandTimeout = TimeSpan.FromSeconds(20),
                DataTimeout = TimeSpan.FromSeconds(20),
                TlsHandshakeTimeout = TimeSpan.FromSeconds(5),
                MaxSessionsPerClient = 100,
                ServerCertificate = withTls ? TestCertificates.Localhost : null,
                AllowInsecureAuth = true,
                Authenticate = (_, credentials, _) => ValueTask.FromResult(credentials.Identity == "alice" && credentials.Password == "pw" ? SmtpVerdict.Accept : SmtpVerdict.Reject()),
                ValidateSender = (_, sender, _) => ValueTask.FromResult(sender?.LocalPart == "blocked" ? SmtpVerdict.Reject() : SmtpVerdict.Accept),
                ValidateRecipient = (_, recipient, _) => ValueTask.FromResult(recipient.LocalPart.StartsWith("reject", StringComparison.Ordinal) ? SmtpVerdict.Reject() : SmtpVerdict.Accept),
                Deliver = async (message, ct) =>
                {
                    await using var stream = message.OpenRead();
                    var length = 0L;
                    var buffer = new byte[4096];
                    int read;
                    while ((read = await stream.ReadAsync(buffer, ct)) > 0)
                    {
                        length += read;
                    }

                    if (length != message.Size || length > MaxMessageSize)
                    {
                        violations.Enqueue($"delivery of {length} octets, size {message.Size}");
                    }

                    var recipients = message.Envelope.Recipients.Count;
                    if (recipients is < 1 or > MaxRecipients || message.Envelope.Recipients.Any(r => r.LocalPart.StartsWith("reject", StringComparison.Ordinal)))
                    {
                        violations.Enqueue($"delivery with {recipients} recipients: {string.Join(", ", message.Envelope.Recipients)}");
                    }

                    if (message.Envelope.Sender?.LocalPart == "blocked")
                    {
                        violations.Enqueue("delivery from a rejected sender");
                    }

                    deliveries.AddOrUpdate(message.Session.RemoteEndPoint.Port, 1, static (_, n) => n + 1);
                    return SmtpVerdict.Accept;
                },
            };
            var server = new SmtpServer(options, logs);
            server.Start(IPAddress.Loopback, 0);
            return server;
        }
    }

    private sealed record Outcome(Transcript Transcript, int LocalPort);

    private static async Task<Outcome> RunSessionAsync(IPEndPoint endpoint, byte[] script, Random random, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint, cancellationToken);
        var localPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
        var reading = Wire.ReadToEndAsync(socket, TimeSpan.FromSeconds(60));

        // Some clients wait for the greeting, some talk at once; pieces of every size cross every parser boundary.
        // Octet-by-octet writes cost a system call each on both sides, so only short scripts get the smallest pieces.
        var maxPiece = random.Next(4) switch
        {
            0 => script.Length <= 1500 ? 1 : 64,
            1 => script.Length <= 6000 ? 16 : 256,
            2 => 512,
            _ => script.Length,
        };
        try
        {
            for (var offset = 0; offset < script.Length;)
            {
                var length = Math.Min(script.Length - offset, 1 + random.Next(Math.Max(1, maxPiece)));
                await Wire.SendAsync(socket, script.AsMemory(offset, length), Delivery.Whole);
                offset += length;
            }

            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server closed first.
        }

        return new Outcome(await reading, localPort);
    }

    private static int CheckSession(int index, Outcome outcome, ConcurrentDictionary<int, int> deliveries, ConcurrentQueue<string> violations)
    {
        var transcript = Checked(outcome.Transcript);
        var accepted = AcceptedReply().Count(Encoding.Latin1.GetString(transcript.Raw));
        try
        {
            // The EHLO/HELO reply echoes the client's name, which may be UTF-8 (docs/hardening.md, recommended core change).
            Wire.AssertWellFormed(transcript, line => HeloReply().IsMatch(line));
            foreach (var line in transcript.Lines)
            {
                Assert.Contains(int.Parse(line[..3], System.Globalization.CultureInfo.InvariantCulture), KnownCodes);
            }

            Assert.True(transcript.Lines.Length > 0, "Not even a greeting.");
            Assert.Matches("^(220|421) ", transcript.Lines[0]);
        }
        catch (Exception ex) when (ex is Xunit.Sdk.XunitException)
        {
            violations.Enqueue($"session {index} (seed {Seed + index}): {ex.Message}");
        }

        deliveries.TryRemove(outcome.LocalPort, out var delivered);
        var consistent = outcome.Transcript.ResetByServer ? delivered >= accepted : delivered == accepted;
        if (!consistent)
        {
            violations.Enqueue($"session {index} (seed {Seed + index}): {accepted} 'Message accepted' replies but {delivered} deliveries");
        }

        return accepted;
    }

    /// <summary>
    /// The part of a transcript that must be SMTP: up to the 220 of an accepted STARTTLS (after it the server speaks
    /// TLS, and may send an alert when the client's "ClientHello" is junk), and up to the last whole line of a reset.
    /// </summary>
    private static Transcript Checked(Transcript transcript)
    {
        var raw = transcript.Raw;
        var text = Encoding.Latin1.GetString(raw);
        var tls = StartTlsAccepted().Match(text);
        if (tls.Success)
        {
            return transcript with { Raw = raw[..(tls.Index + tls.Length)] };
        }

        return transcript.ResetByServer ? transcript with { Raw = raw[..(Array.LastIndexOf(raw, (byte)'\n') + 1)] } : transcript;
    }

    private static void Drain(CapturingLoggerProvider logs, ConcurrentQueue<string> violations)
    {
        while (logs.Entries.TryDequeue(out var entry))
        {
            if (entry.Level >= LogLevel.Error)
            {
                violations.Enqueue($"{entry.Level} logged: {entry.Message}");
            }
        }
    }

    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    [GeneratedRegex(@"^250 (2\.0\.0 )?Message accepted\r$", RegexOptions.Multiline)]
    private static partial Regex AcceptedReply();

    [GeneratedRegex(@"^250[ -]fuzz\.local Hello ")]
    private static partial Regex HeloReply();

    [GeneratedRegex(@"(^|\n)220 (2\.0\.0 )?Ready to start TLS\r\n")]
    private static partial Regex StartTlsAccepted();

    /// <summary>Generates sessions from the SMTP grammar, with the hostile variants of issue 7 mixed in.</summary>
    private sealed class SessionGenerator(Random random)
    {
        private static readonly string[] LocalParts = ["alice", "bob", "reject-me", "blocked", "\"quoted local\"", "Postmaster", "x", new string('l', 64), new string('l', 65), "j\u00c3\u00b6rg", ""];
        private static readonly string[] Domains = ["example.com", "b.example", "[192.0.2.1]", "[IPv6:2001:db8::1]", "[999.1.1.1]", "exa mple.com", "", "\u00c3\u00a9xample.com"];
        private static readonly string[] Junk =
        [
            "NOOP", "NOOP hello", "RSET", "VRFY alice", "VRFY", "EXPN list", "HELP", "HELP me", "QUIT now", "DATA now", "XYZZY",
            "GET / HTTP/1.1", "Host: example.com", "", " ", "MAIL", "RCPT", "MAIL TO:<a@b.example>", "RCPT FROM:<a@b.example>",
            "AUTH", "AUTH NOSUCH", "AUTH PLAIN !!!", "AUTH PLAIN *", "AUTH PLAIN =", "BDAT", "BDAT x", "BDAT -1", "STARTTLS now",
            "EHLO", "HELO", "\0", "\u0080\u00ff", "NOOP\0", "MAIL FROM:<a@b.example>\rRCPT TO:<c@d.example>",
        ];

        private readonly StringBuilder _script = new();

        public byte[] Next()
        {
            if (random.Next(10) != 0)
            {
                Line(random.Next(5) == 0 ? $"HELO client{random.Next(100)}.example" : $"EHLO client{random.Next(100)}.example");
            }

            var steps = random.Next(1, 12);
            for (var i = 0; i < steps; i++)
            {
                switch (random.Next(100))
                {
                    case < 45:
                        Transaction();
                        break;
                    case < 65:
                        Line(Pick(Junk));
                        break;
                    case < 72:
                        Auth();
                        break;
                    case < 78:
                        Line(random.Next(2) == 0 ? $"EHLO again{random.Next(10)}.example" : "RSET");
                        break;
                    case < 84:
                        Line(new string((char)('A' + random.Next(26)), random.Next(400, 3000)));
                        break;
                    case < 90:
                        Line(RandomOctets(random.Next(1, 80), allowLineFeed: false));
                        break;
                    case < 91:
                        Line("STARTTLS");
                        break;
                    default:
                        Line(random.Next(3) == 0 ? "MAIL FROM:<a@b.example> SIZE=" + random.NextInt64() : "NOOP");
                        break;
                }
            }

            if (random.Next(5) != 0)
            {
                Line("QUIT");
            }

            return Encoding.Latin1.GetBytes(_script.ToString());
        }

        private void Transaction()
        {
            var parameters = random.Next(6) switch
            {
                0 => " SIZE=" + random.Next(0, 2 * MaxMessageSize),
                1 => " BODY=8BITMIME",
                2 => " BODY=BINARYMIME",
                3 => " SMTPUTF8",
                4 => " FOO=bar",
                _ => string.Empty,
            };
            Line(random.Next(8) == 0 ? "MAIL FROM:<>" + parameters : $"MAIL FROM:<{Address()}>{parameters}");
            var recipients = random.Next(0, MaxRecipients + 3);
            for (var i = 0; i < recipients; i++)
            {
                Line(random.Next(12) == 0 ? "RCPT TO:<Postmaster>" : $"RCPT TO:<{Address()}>");
            }

            switch (random.Next(10))
            {
                case < 5:
                    Data();
                    break;
                case < 8:
                    Bdat();
                    break;
                case 8:
                    Line("RSET");
                    break;
                default:
                    break;
            }
        }

        private void Data()
        {
            Line("DATA");
            var lines = random.Next(0, 40);
            for (var i = 0; i < lines; i++)
            {
                var text = random.Next(12) switch
                {
                    0 => "." + RandomText(random.Next(0, 20)),
                    1 => Pick(["\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r\n.\r", "\r.\r\n", "\r\n.\r\r\n", "\r\n\0.\r\n"]) + "MAIL FROM:<smuggled@evil.example>",
                    2 => new string('w', random.Next(990, 1100)),
                    3 => RandomOctets(random.Next(1, 60), allowLineFeed: true),
                    4 => "QUIT",
                    _ => RandomText(random.Next(0, 78)),
                };

                // Dot-stuff as a client must (RFC 5321 4.5.2); the hostile octets above stay as they are.
                _script.Append(text.StartsWith('.') ? "." + text : text).Append("\r\n");
            }

            if (random.Next(40) == 0)
            {
                // Now and then a body over MaxMessageSize.
                _script.Append(new string('z', 78)).Append("\r\n");
                for (var i = 0; i < (MaxMessageSize / 80) + 10; i++)
                {
                    _script.Append(new string('z', 78)).Append("\r\n");
                }
            }

            _script.Append(".\r\n");
        }

        private void Bdat()
        {
            var chunks = random.Next(1, 4);
            for (var i = 0; i < chunks; i++)
            {
                var size = random.Next(10) == 0 ? random.Next(MaxMessageSize, MaxMessageSize + 100) : random.Next(0, 300);
                var last = i == chunks - 1 && random.Next(6) != 0;
                _script.Append($"BDAT {size}{(last ? " LAST" : string.Empty)}\r\n");
                _script.Append(RandomOctets(size, allowLineFeed: true));
            }
        }

        private void Auth()
        {
            string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
            switch (random.Next(5))
            {
                case 0:
                    Line("AUTH PLAIN " + B64(random.Next(2) == 0 ? "\0alice\0pw" : "\0alice\0wrong"));
                    break;
                case 1:
                    Line("AUTH LOGIN");
                    Line(B64("alice"));
                    Line(random.Next(2) == 0 ? B64("pw") : "*");
                    break;
                case 2:
                    Line("AUTH PLAIN");
                    Line(random.Next(2) == 0 ? "MAIL FROM:<a@b.example>" : B64("admin\r\nX: y\0alice\0pw"));
                    break;
                case 3:
                    Line("AUTH XOAUTH2 " + B64("user=alice\u0001auth=Bearer t\u0001\u0001"));
                    break;
                default:
                    Line("AUTH LOGIN " + new string('A', random.Next(100, 14000)));
                    break;
            }
        }

        private string Address() => random.Next(10) < 6 ? $"user{random.Next(50)}@example.com" : $"{Pick(LocalParts)}@{Pick(Domains)}";

        private string RandomText(int length)
        {
            const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;<>@\"-_=+!?()[]";
            var chars = new char[length];
            for (var i = 0; i < length; i++)
            {
                chars[i] = alphabet[random.Next(alphabet.Length)];
            }

            return new string(chars);
        }

        private string RandomOctets(int length, bool allowLineFeed)
        {
            var chars = new char[length];
            for (var i = 0; i < length; i++)
            {
                var c = (char)random.Next(256);
                chars[i] = !allowLineFeed && c == '\n' ? ' ' : c;
            }

            return new string(chars);
        }

        private T Pick<T>(T[] items) => items[random.Next(items.Length)];

        private void Line(string text) => _script.Append(text).Append("\r\n");
    }

    /// <summary>Octet-level mutations, as a fuzzer's havoc stage makes them.</summary>
    private static class Mutator
    {
        private static readonly byte[][] Tokens =
        [
            "\r\n"u8.ToArray(), "\n"u8.ToArray(), "\r"u8.ToArray(), "\0"u8.ToArray(), "."u8.ToArray(), "\r\n.\r\n"u8.ToArray(), "\n.\n"u8.ToArray(),
            "DATA\r\n"u8.ToArray(), "BDAT 7\r\n"u8.ToArray(), "BDAT 0 LAST\r\n"u8.ToArray(), "RSET\r\n"u8.ToArray(), "<>"u8.ToArray(),
            "@"u8.ToArray(), ":"u8.ToArray(), " "u8.ToArray(), [0x80], [0xff], [0xc3],
        ];

        public static byte[] Mutate(byte[] input, Random random)
        {
            var data = new List<byte>(input);
            var count = random.Next(1, 9);
            for (var i = 0; i < count; i++)
            {
                var at = data.Count == 0 ? 0 : random.Next(data.Count);
                switch (random.Next(6))
                {
                    case 0 when data.Count > 0:
                        data[at] ^= (byte)(1 << random.Next(8));
                        break;
                    case 1:
                        data.InsertRange(at, Tokens[random.Next(Tokens.Length)]);
                        break;
                    case 2 when data.Count > 0:
                        data.RemoveRange(at, Math.Min(random.Next(1, 32), data.Count - at));
                        break;
                    case 3 when data.Count > 0:
                        var length = Math.Min(random.Next(1, 64), data.Count - at);
                        data.InsertRange(random.Next(data.Count), data.GetRange(at, length));
                        break;
                    case 4 when data.Count > 0:
                        data[at] = (byte)random.Next(256);
                        break;
                    case 5 when data.Count > 0:
                        data.RemoveRange(at, data.Count - at);
                        break;
                    default:
                        break;
                }
            }

            return [.. data];
        }
    }
}
