using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Http.Live;

/// <summary>The event types, spelled as Mailpit's WebSocket sends them in <c>Type</c>.</summary>
internal static class CatcherEventTypes
{
    /// <summary>A message was stored; <c>Data</c> is its summary, the object the list route returns.</summary>
    public const string New = "new";

    /// <summary>A message changed; <c>Data</c> is <c>{"ID","Read"}</c> or <c>{"ID","Tags"}</c>.</summary>
    public const string Update = "update";

    /// <summary>A message was deleted; <c>Data</c> is <c>{"ID"}</c>.</summary>
    public const string Delete = "delete";

    /// <summary>Every message was deleted; <c>Data</c> is <c>null</c>.</summary>
    public const string Truncate = "truncate";

    /// <summary>Many messages went at once (retention, a bulk delete); <c>Data</c> is <c>null</c>: reload the list.</summary>
    public const string Prune = "prune";

    /// <summary>The mailbox counts; <c>Data</c> is <c>{"Total","Unread","Version"}</c>.</summary>
    public const string Stats = "stats";
}

/// <summary>A message as <see cref="MailCatcher"/> stored it, for matching a <c>new</c> event against a wait's query.</summary>
/// <param name="Id">The message's ID, as the API names it.</param>
/// <param name="Record">What the store keeps about it.</param>
internal sealed record CatcherStoredMessage(string Id, MessageRecord Record);

/// <summary>
/// One event of the hub: its sequence number, its type and its <c>Data</c> as UTF-8 JSON. The WebSocket and SSE
/// encodings are built once, on first use, and shared by every client. A <c>new</c> event's <c>Data</c> (the message's
/// summary) is made on first use too: with no live client and no wait, no one reads it, and making it took a tenth
/// of the catcher's CPU per message (docs/performance.md "Catcher ingest").
/// </summary>
internal sealed class CatcherEvent
{
    private static readonly byte[] NullJson = "null"u8.ToArray();
    private readonly Func<ReadOnlyMemory<byte>>? _makeData;
    /// <summary>
    /// Boxed, so that readers on several threads see the whole value or none of it (a <see cref="ReadOnlyMemory{T}"/>
    /// is two words and could be read half-written).
    /// </summary>
    private StrongBox<ReadOnlyMemory<byte>>? _data;
    private byte[]? _webSocketFrame;
    private byte[]? _sseFrame;

    /// <summary>Creates an event.</summary>
    /// <param name="sequence">Its number; later events have larger numbers.</param>
    /// <param name="type">One of <see cref="CatcherEventTypes"/>.</param>
    /// <param name="data">The <c>Data</c> JSON; empty for <c>null</c>.</param>
    /// <param name="message">The stored message, for <c>new</c>.</param>
    /// <param name="mailbox">The named mailbox the change concerns alone (a delete scoped with <c>?mailbox=</c>), or <see langword="null"/> for a change to the store.</param>
    public CatcherEvent(long sequence, string type, ReadOnlyMemory<byte> data, CatcherStoredMessage? message, string? mailbox = null)
    {
        Sequence = sequence;
        Type = type;
        _data = new StrongBox<ReadOnlyMemory<byte>>(data.IsEmpty ? NullJson : data);
        Message = message;
        Mailbox = mailbox;
    }

    /// <summary>Creates an event whose <c>Data</c> is made on first use, by whichever reader needs it first.</summary>
    /// <param name="sequence">Its number; later events have larger numbers.</param>
    /// <param name="type">One of <see cref="CatcherEventTypes"/>.</param>
    /// <param name="data">Makes the <c>Data</c> JSON (empty for <c>null</c>); called at most once in the usual case, never when no one reads it.</param>
    /// <param name="message">The stored message, for <c>new</c>.</param>
    public CatcherEvent(long sequence, string type, Func<ReadOnlyMemory<byte>> data, CatcherStoredMessage? message)
    {
        ArgumentNullException.ThrowIfNull(data);
        Sequence = sequence;
        Type = type;
        _makeData = data;
        Message = message;
    }

    /// <summary>
    /// The named mailbox this change concerns alone, such as a message taken out of mailbox X but still stored for
    /// mailbox Y: only subscribers to X see it. <see langword="null"/> for a change every view shares.
    /// </summary>
    public string? Mailbox { get; }

    /// <summary>The event's number; strictly increasing in publication order. SSE sends it as <c>id:</c>.</summary>
    public long Sequence { get; }

    /// <summary>The type, one of <see cref="CatcherEventTypes"/>.</summary>
    public string Type { get; }

    /// <summary>The <c>Data</c> JSON, <c>null</c> when the type has none.</summary>
    public ReadOnlyMemory<byte> Data => (Volatile.Read(ref _data) ?? MakeData()).Value;

    /// <summary>The stored message of a <c>new</c> event; <see langword="null"/> otherwise.</summary>
    public CatcherStoredMessage? Message { get; }

    /// <summary>The WebSocket text frame: <c>{"Type":…,"Data":…}</c>, Mailpit's frame.</summary>
    public ReadOnlyMemory<byte> WebSocketFrame => _webSocketFrame ??= BuildWebSocketFrame();

    /// <summary>The SSE frame: <c>id:</c>, <c>event:</c> and <c>data:</c> lines and the blank line that ends it.</summary>
    public ReadOnlyMemory<byte> SseFrame => _sseFrame ??= BuildSseFrame();

    private StrongBox<ReadOnlyMemory<byte>> MakeData()
    {
        // Two readers may both make it; the JSON is the same, and the first one stored wins.
        var made = _makeData!();
        var box = new StrongBox<ReadOnlyMemory<byte>>(made.IsEmpty ? NullJson : made);
        return Interlocked.CompareExchange(ref _data, box, null) ?? box;
    }

    private byte[] BuildWebSocketFrame()
    {
        // The type is one of the constants (plain ASCII) and Data is JSON already: concatenation is exact.
        var buffer = new ArrayBufferWriter<byte>(Data.Length + 32);
        buffer.Write("{\"Type\":\""u8);
        Encoding.UTF8.GetBytes(Type, buffer);
        buffer.Write("\",\"Data\":"u8);
        buffer.Write(Data.Span);
        buffer.Write("}"u8);
        return buffer.WrittenSpan.ToArray();
    }

    private byte[] BuildSseFrame()
    {
        var buffer = new ArrayBufferWriter<byte>(Data.Length + 48);
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"id: {Sequence}\nevent: {Type}\n"), buffer);
        // Compact JSON has no raw line breaks (strings escape them); if Data ever has one, each line becomes its own
        // data: line, which the client joins back with "\n" (HTML Living Standard, 9.2.6 "Interpreting an event stream").
        var data = Data.Span;
        while (true)
        {
            var lineEnd = data.IndexOfAny((byte)'\n', (byte)'\r');
            buffer.Write("data: "u8);
            if (lineEnd < 0)
            {
                buffer.Write(data);
                break;
            }

            buffer.Write(data[..lineEnd]);
            buffer.Write("\n"u8);
            data = data[(lineEnd + 1)..];
        }

        buffer.Write("\n\n"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
