using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher;

/// <summary>JSON helpers shared by the events, <c>smtpd list --json</c> and the store's recipient columns.</summary>
internal static class CatcherJson
{
    /// <summary>
    /// Writer settings: no indentation (one object per line) and the relaxed encoder, so UTF-8 addresses and
    /// subjects stay readable and substring searches in the store match them; the output is never embedded in HTML.
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    /// <summary>Serializes a list of strings as a JSON array.</summary>
    /// <param name="values">The strings.</param>
    /// <returns>The JSON text.</returns>
    public static string StringArray(IReadOnlyList<string> values)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartArray();
            foreach (var value in values)
            {
                writer.WriteStringValue(value);
            }

            writer.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Reads a JSON array of strings.</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The strings.</returns>
    public static string[] ParseStringArray(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateArray().Select(e => e.GetString() ?? string.Empty).ToArray();
    }

    /// <summary>
    /// Writes the members that the <c>message</c> event and <c>list --json</c> share, <c>id</c> to <c>subject</c>, in
    /// that order, so the two can never drift apart.
    /// </summary>
    /// <param name="writer">The writer, inside the message object.</param>
    /// <param name="id">The message's id in the store (or Maildir name).</param>
    /// <param name="message">The message.</param>
    public static void WriteMessageSummary(Utf8JsonWriter writer, string id, MessageRecord message)
    {
        writer.WriteString("id", id);
        writer.WriteString("receivedAt", message.ReceivedAtText);
        writer.WriteString("from", message.MailFrom);
        writer.WriteStartArray("to");
        foreach (var recipient in message.Recipients)
        {
            writer.WriteStringValue(recipient);
        }

        writer.WriteEndArray();
        writer.WriteNumber("size", message.Size);
        writer.WriteString("sha256", message.Sha256);
        writer.WriteString("client", message.Client);
        writer.WriteString("helo", message.Helo ?? string.Empty);
        writer.WriteBoolean("tls", message.Tls);
        WriteNullable(writer, "user", message.User);
        writer.WriteString("subject", message.Subject ?? string.Empty);
    }

    /// <summary>Writes a string member, or <c>null</c> when there is no value.</summary>
    /// <param name="writer">The writer, inside an object.</param>
    /// <param name="name">The member's name.</param>
    /// <param name="value">The value, or <see langword="null"/>.</param>
    public static void WriteNullable(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }

    /// <summary>
    /// Writes the <c>dsn</c> object of a message, only when it carried a DSN parameter: <c>ret</c>, <c>envid</c> and
    /// <c>recipients</c> (each with <c>to</c>, <c>notify</c>, <c>orcpt</c>), each member only when present.
    /// </summary>
    /// <param name="writer">The writer, inside the message object.</param>
    /// <param name="message">The message.</param>
    public static void WriteDsn(Utf8JsonWriter writer, MessageRecord message)
    {
        if (!message.HasDsn)
        {
            return;
        }

        writer.WriteStartObject("dsn");
        if (message.DsnReturn is { } ret)
        {
            writer.WriteString("ret", ret);
        }

        if (message.DsnEnvelopeId is { } envid)
        {
            writer.WriteString("envid", envid);
        }

        if (message.RecipientDsn.Count > 0)
        {
            writer.WritePropertyName("recipients");
            WriteRecipientDsn(writer, message.RecipientDsn);
        }

        writer.WriteEndObject();
    }

    /// <summary>Serializes per-recipient DSN parameters as the JSON array the store keeps in <c>rcpt_dsn</c>.</summary>
    /// <param name="records">The records.</param>
    /// <returns>The JSON text.</returns>
    public static string RecipientDsnArray(IReadOnlyList<RecipientDsnRecord> records)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteRecipientDsn(writer, records);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Reads what <see cref="RecipientDsnArray"/> wrote.</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The records.</returns>
    public static RecipientDsnRecord[] ParseRecipientDsnArray(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateArray().Select(e => new RecipientDsnRecord(
            e.GetProperty("to").GetString() ?? string.Empty,
            e.TryGetProperty("notify", out var notify) ? notify.GetString() : null,
            e.TryGetProperty("orcpt", out var orcpt) ? orcpt.GetString() : null)).ToArray();
    }

    private static void WriteRecipientDsn(Utf8JsonWriter writer, IReadOnlyList<RecipientDsnRecord> records)
    {
        writer.WriteStartArray();
        foreach (var record in records)
        {
            writer.WriteStartObject();
            writer.WriteString("to", record.To);
            if (record.Notify is { } notify)
            {
                writer.WriteString("notify", notify);
            }

            if (record.OriginalRecipient is { } orcpt)
            {
                writer.WriteString("orcpt", orcpt);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }
}
