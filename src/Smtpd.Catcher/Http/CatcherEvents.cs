using System.Text.Json;

namespace Smtpd.Catcher.Http;

/// <summary>
/// One change to the mailbox, as the live events carry it: Mailpit's <c>{"Type":…,"Data":…}</c> frame. The data is
/// one of the API's types (<see cref="ApiMessageSummary"/> for <c>new</c>, <see cref="ReadUpdateEvent"/> or
/// <see cref="TagsUpdateEvent"/> for <c>update</c>, <see cref="DeleteEvent"/> for <c>delete</c>, <see langword="null"/>
/// for <c>truncate</c>), so <see cref="WriteData"/> can serialize it with the source-generated context.
/// </summary>
/// <param name="Type">The event type: <c>new</c>, <c>update</c>, <c>delete</c> or <c>truncate</c>.</param>
/// <param name="Data">The data, or <see langword="null"/>.</param>
internal sealed record CatcherEvent(string Type, object? Data)
{
    /// <summary>Writes <see cref="Data"/> as JSON with the API's context (no reflection).</summary>
    /// <param name="writer">The writer, where a value is expected.</param>
    public void WriteData(Utf8JsonWriter writer)
    {
        if (Data is null)
        {
            writer.WriteNullValue();
            return;
        }

        JsonSerializer.Serialize(writer, Data, ApiJsonContext.Default.GetTypeInfo(Data.GetType())
            ?? throw new InvalidOperationException($"{Data.GetType()} is not in the API's JSON context."));
    }
}

/// <summary>
/// Where the catcher announces every change to the mailbox: messages stored (SMTP or <c>/api/v1/send</c>), read
/// status, tags, deletes and truncation. The live events (WebSocket, SSE, <c>/api/v1/wait</c>) subscribe to
/// <see cref="Published"/>. With no subscriber, publishing costs one null check, so the SMTP path pays nothing
/// for an API nobody watches.
/// </summary>
internal sealed class CatcherEventHub
{
    /// <summary>Raised for every change, on the thread that made it (a session's or a request's); handlers must not block.</summary>
    public event Action<CatcherEvent>? Published;

    /// <summary>Whether anything listens; publishers skip building event data when nothing does.</summary>
    public bool HasSubscribers => Published is not null;

    /// <summary>Announces a change.</summary>
    /// <param name="type">The event type.</param>
    /// <param name="data">The data.</param>
    public void Publish(string type, object? data) => Published?.Invoke(new CatcherEvent(type, data));
}
