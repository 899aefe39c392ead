using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Smtpd.Cli;

/// <summary>JSON helpers shared by the events, <c>smtpd list --json</c> and the store's recipient column.</summary>
internal static class CliJson
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
}
