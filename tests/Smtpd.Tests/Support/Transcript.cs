using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Smtpd.Sessions;

namespace Smtpd.Tests.Support;

/// <summary>
/// A recorded SMTP transcript (<c>TestData/Transcripts/*.smtp</c>): what the client sends and what the server must
/// answer, replayed in memory against <see cref="SmtpProtocol"/> (through <see cref="InMemorySmtpSession"/>).
/// </summary>
/// <remarks>
/// One entry per line, by its prefix:
/// <list type="bullet">
/// <item><c># text</c>: a comment.</item>
/// <item><c>! Name = value</c>: an option (any simple <see cref="SmtpServerOptions"/> property) or a test policy:
/// <c>ValidateSender = reject</c>, <c>ValidateRecipient = reject</c> or <c>reject:LOCALPART</c>,
/// <c>Authenticate = USER:PASSWORD</c>, <c>Deliver = reject</c>, <c>Certificate</c> (a certificate, so STARTTLS is
/// offered), <c>Lmtp</c>.</item>
/// <item><c>C: text</c>: a line the client sends; CRLF is added.</item>
/// <item><c>R: text</c>: octets the client sends as they are, with <c>\r</c>, <c>\n</c> and <c>\\</c> escapes and no
/// CRLF added (BDAT chunks, bare line ends).</item>
/// <item><c>S: text</c>: a reply line the server must send after the client entries before it.</item>
/// <item><c>M: sender -&gt; recipient, recipient: content</c>: a message that must have been delivered, in order;
/// the content uses the escapes of <c>R:</c>.</item>
/// </list>
/// Run the tests with <c>SMTPD_RECORD_TRANSCRIPTS=1</c> to rewrite the <c>S:</c> lines from what the server sends,
/// then review the diff: a recorded transcript is a claim about the protocol, not a snapshot to accept blindly.
/// </remarks>
public sealed class Transcript
{
    private Transcript(string name, string[] lines) => (Name, Lines) = (name, lines);

    public string Name { get; }

    public string[] Lines { get; }

    /// <summary>The directory of the transcript files in the source tree (for recording) or next to the tests.</summary>
    public static string Directory([CallerFilePath] string source = "") =>
        Path.Combine(Path.GetDirectoryName(source)!, "..", "TestData", "Transcripts");

    public static IEnumerable<string> Names() =>
        System.IO.Directory.EnumerateFiles(Directory(), "*.smtp").Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal)!;

    public static Transcript Load(string name) => new(name, File.ReadAllLines(Path.Combine(Directory(), name + ".smtp")));

    /// <summary>Every client entry's octets, in order.</summary>
    public IEnumerable<byte[]> ClientEntries() => Lines.Where(IsClient).Select(ClientBytes);

    /// <summary>The reply lines the transcript expects, in order, each ending with CRLF.</summary>
    public string ExpectedReplies() => string.Concat(Lines.Where(l => l.StartsWith("S: ", StringComparison.Ordinal)).Select(l => l[3..] + "\r\n"));

    /// <summary>The expected replies grouped by the client entry they follow (the greeting first).</summary>
    public IReadOnlyList<string> ExpectedRepliesPerEntry()
    {
        var groups = new List<string> { string.Empty };
        foreach (var line in Lines)
        {
            if (IsClient(line))
            {
                groups.Add(string.Empty);
            }
            else if (line.StartsWith("S: ", StringComparison.Ordinal))
            {
                groups[^1] += line[3..] + "\r\n";
            }
        }

        return groups;
    }

    /// <summary>The deliveries the transcript expects, as <c>sender -&gt; recipients: content</c>.</summary>
    public IReadOnlyList<string> ExpectedMessages() =>
        Lines.Where(l => l.StartsWith("M: ", StringComparison.Ordinal)).Select(l => l[3..]).ToArray();

    /// <summary>A session set up as the transcript's <c>!</c> lines say; <paramref name="delivered"/> collects the messages.</summary>
    internal InMemorySmtpSession CreateSession(List<string> delivered)
    {
        var options = new SmtpServerOptions { ServerName = "test.local" };
        options.Deliver = async (message, ct) =>
        {
            await using var stream = message.OpenRead();
            using var reader = new StreamReader(stream, Encoding.Latin1);
            var envelope = message.Envelope;
            lock (delivered)
            {
                delivered.Add($"{envelope.SenderAddress} -> {string.Join(", ", envelope.Recipients.Select(r => r.Address))}: {Escape(reader.ReadToEnd())}");
            }

            return SmtpVerdict.Accept;
        };
        var lmtp = false;
        foreach (var line in Lines.Where(l => l.StartsWith("! ", StringComparison.Ordinal)))
        {
            var parts = line[2..].Split('=', 2, StringSplitOptions.TrimEntries);
            var (name, value) = (parts[0], parts.Length > 1 ? parts[1] : string.Empty);
            switch (name)
            {
                case "Lmtp":
                    lmtp = true;
                    break;
                case "Certificate":
                    options.ServerCertificate = TestCertificates.Localhost;
                    break;
                case "ValidateSender":
                    options.ValidateSender = (_, _, _) => ValueTask.FromResult(SmtpVerdict.Reject("policy"));
                    break;
                case "ValidateRecipient":
                    var refused = value.StartsWith("reject:", StringComparison.Ordinal) ? value[7..] : null;
                    options.ValidateRecipient = (_, recipient, _) => ValueTask.FromResult(
                        refused is null || recipient.LocalPart == refused ? SmtpVerdict.Reject("policy") : SmtpVerdict.Accept);
                    break;
                case "Authenticate":
                    var credentials = value.Split(':', 2);
                    options.Authenticate = (_, given, _) => ValueTask.FromResult(
                        given.Identity == credentials[0] && given.Password == credentials[1] ? SmtpVerdict.Accept : SmtpVerdict.Reject());
                    break;
                case "Deliver":
                    options.Deliver = (_, _) => ValueTask.FromResult(SmtpVerdict.Reject("policy"));
                    break;
                default:
                    var property = typeof(SmtpServerOptions).GetProperty(name) ?? throw new InvalidOperationException($"{Name}: no option {name}");
                    var type = property.PropertyType;
                    object converted = type == typeof(TimeSpan) ? TimeSpan.Parse(value, CultureInfo.InvariantCulture)
                        : type.IsEnum ? Enum.Parse(type, value)
                        : Convert.ChangeType(value, type, CultureInfo.InvariantCulture);
                    property.SetValue(options, converted);
                    break;
            }
        }

        return new InMemorySmtpSession(options, lmtp, logger: null, time: null, remoteEndPoint: null);
    }

    /// <summary>
    /// Rewrites the file's <c>S:</c> lines with what the server sends after each client entry.
    /// </summary>
    public async Task RecordAsync()
    {
        var delivered = new List<string>();
        using var session = CreateSession(delivered);
        await session.StartAsync();
        var output = new List<string>();
        var pendingReplies = session.TakeReplies();
        foreach (var line in Lines.Where(l => !l.StartsWith("S: ", StringComparison.Ordinal) && !l.StartsWith("M: ", StringComparison.Ordinal)))
        {
            if (IsClient(line))
            {
                output.AddRange(ReplyLines(pendingReplies));
                await session.WriteAsync(ClientBytes(line));
                pendingReplies = session.TakeReplies();
            }

            output.Add(line);
        }

        output.AddRange(ReplyLines(pendingReplies));
        output.AddRange(delivered.Select(m => "M: " + m));
        await File.WriteAllLinesAsync(Path.Combine(Directory(), Name + ".smtp"), output);
    }

    public override string ToString() => Name;

    private static IEnumerable<string> ReplyLines(string replies) =>
        replies.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Select(r => "S: " + r);

    private static bool IsClient(string line) => line.StartsWith("C: ", StringComparison.Ordinal) || line.StartsWith("R: ", StringComparison.Ordinal);

    private static byte[] ClientBytes(string line) =>
        line.StartsWith("C: ", StringComparison.Ordinal) ? Encoding.UTF8.GetBytes(line[3..] + "\r\n") : Encoding.Latin1.GetBytes(Unescape(line[3..]));

    private static string Unescape(string text) =>
        text.Replace("\\\\", "\u0001", StringComparison.Ordinal).Replace("\\r", "\r", StringComparison.Ordinal)
            .Replace("\\n", "\n", StringComparison.Ordinal).Replace("\u0001", "\\", StringComparison.Ordinal);

    private static string Escape(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
