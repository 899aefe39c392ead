using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Smtpd.Catcher;
using Smtpd.Catcher.Storage;

namespace Smtpd.Cli.Output;

/// <summary>How the catcher reports on stdout.</summary>
internal enum OutputMode
{
    /// <summary>A startup line and one line per message, coloured on a terminal.</summary>
    Human,

    /// <summary>One JSON object per line and nothing else.</summary>
    Json,

    /// <summary>Nothing.</summary>
    Quiet,
}

/// <summary>
/// Writes the catcher's stdout: the startup line and one line per message, or the JSON events. Each line goes out
/// in one write under a lock, so lines from concurrent sessions never interleave.
/// </summary>
internal sealed class EventWriter(Stream stdout, OutputMode mode)
{
    private readonly Lock _gate = new();

    /// <summary>The output mode.</summary>
    public OutputMode Mode => mode;

    /// <summary>Reports a listener after it is bound, with its real port.</summary>
    /// <param name="listener">The bound listener.</param>
    public void Listening(SmtpListener listener) => WriteListening(listener.EndPoint, listener.ImplicitTls, protocol: null);

    /// <summary>Reports an HTTP API listener after it is bound, with its real port: <c>"http":true</c> tells it from SMTP.</summary>
    /// <param name="endPoint">The bound endpoint.</param>
    /// <param name="tls">Whether it serves HTTPS.</param>
    public void HttpListening(System.Net.IPEndPoint endPoint, bool tls) => WriteListening(endPoint, tls, "http");

    /// <summary>Reports a POP3 listener after it is bound, with its real port: <c>"pop3":true</c> tells it from SMTP and HTTP.</summary>
    /// <param name="endPoint">The bound endpoint.</param>
    public void Pop3Listening(System.Net.IPEndPoint endPoint) => WriteListening(endPoint, tls: false, "pop3");

    /// <summary>
    /// One <c>listening</c> event: SMTP listeners carry no protocol flag (the event predates the others, and scripts
    /// read it as is); the others add <c>"http":true</c> or <c>"pop3":true</c>.
    /// </summary>
    private void WriteListening(System.Net.EndPoint endPoint, bool tls, string? protocol)
    {
        if (mode == OutputMode.Json)
        {
            WriteJson(writer =>
            {
                writer.WriteString("event", "listening");
                writer.WriteString("endpoint", endPoint.ToString());
                writer.WriteBoolean("tls", tls);
                if (protocol is not null)
                {
                    writer.WriteBoolean(protocol, true);
                }
            });
        }
    }

    /// <summary>Prints the human startup line.</summary>
    /// <param name="text">The line.</param>
    public void Startup(string text)
    {
        if (mode == OutputMode.Human)
        {
            WriteLine(text);
        }
    }

    /// <summary>Reports an accepted message.</summary>
    /// <param name="id">Its id in the store (or a unique id when nothing is stored).</param>
    /// <param name="message">What was received.</param>
    public void Message(string id, MessageRecord message)
    {
        switch (mode)
        {
            case OutputMode.Json:
                WriteJson(writer =>
                {
                    writer.WriteString("event", "message");
                    CatcherJson.WriteMessageSummary(writer, id, message);
                    CatcherJson.WriteDsn(writer, message);
                });
                break;
            case OutputMode.Human:
                var to = message.Recipients.Count == 0 ? "" : message.Recipients[0] + (message.Recipients.Count > 1 ? $" (+{message.Recipients.Count - 1})" : "");
                WriteLine(string.Join("  ",
                    Terminal.Dim(message.ReceivedAt.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture)),
                    Terminal.Cyan("#" + id),
                    Terminal.Green(Terminal.Shorten(message.MailFrom.Length == 0 ? "<>" : message.MailFrom, 60)) + " → " + Terminal.Shorten(to, 60),
                    Terminal.Bold(Terminal.Shorten(message.Subject is null ? "(no subject)" : message.Subject, 80)),
                    Terminal.Dim(Terminal.Size(message.Size))));
                break;
            case OutputMode.Quiet:
            default:
                break;
        }
    }

    /// <summary>Reports messages that retention (<c>--retain</c>, <c>--retain-age</c>, <c>--retain-size</c>) deleted.</summary>
    /// <param name="pruned">What went: the oldest messages, up to an id.</param>
    public void Pruned(StorePruned pruned)
    {
        switch (mode)
        {
            case OutputMode.Json:
                WriteJson(writer =>
                {
                    writer.WriteString("event", "prune");
                    writer.WriteNumber("messages", pruned.Messages);
                    writer.WriteNumber("bytes", pruned.Bytes);
                    writer.WriteString("firstId", pruned.FirstId.ToString(CultureInfo.InvariantCulture));
                    writer.WriteString("lastId", pruned.LastId.ToString(CultureInfo.InvariantCulture));
                });
                break;
            case OutputMode.Human:
                WriteLine(Terminal.Dim(string.Create(CultureInfo.InvariantCulture,
                    $"pruned {pruned.Messages} old message{(pruned.Messages == 1 ? "" : "s")} (#{pruned.FirstId} to #{pruned.LastId}, {Terminal.Size(pruned.Bytes)})")));
                break;
            case OutputMode.Quiet:
            default:
                break;
        }
    }

    private void WriteJson(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, CatcherJson.WriterOptions))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        buffer.Write("\n"u8);
        Write(buffer.WrittenSpan);
    }

    private void WriteLine(string text) => Write(Encoding.UTF8.GetBytes(text + "\n"));

    private void Write(ReadOnlySpan<byte> bytes)
    {
        lock (_gate)
        {
            try
            {
                stdout.Write(bytes);
                stdout.Flush();
            }
            catch (IOException)
            {
                // Whoever read stdout has gone (a closed pipe); receiving mail matters more than reporting it.
            }
        }
    }
}
