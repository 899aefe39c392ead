using System.Text.Json;

namespace Smtpd.Catcher.Http;

/// <summary>
/// One change to the mailbox, as the live events carry it: Mailpit's <c>{"Type":…,"Data":…}</c> frame. The data is
/// one of the API's types (<see cref="ReadUpdateEvent"/> or
/// <see cref="TagsUpdateEvent"/> for <c>update</c>, <see cref="DeleteEvent"/> for <c>delete</c>, <see langword="null"/>
/// for <c>truncate</c>), so <see cref="WriteData"/> can serialize it with the source-generated context.
/// </summary>
/// <param name="Type">The event type: <c>update</c>, <c>delete</c>, <c>truncate</c> or <c>prune</c>.</param>
/// <param name="Data">The data, or <see langword="null"/>.</param>
/// <param name="Mailbox">The named mailbox the change concerns alone (a message taken out of it but still stored), or <see langword="null"/> for a change to the store.</param>
/// <param name="Remote">
/// Whether another catcher instance on the same shared store made the change (PostgreSQL's NOTIFY); its
/// <see cref="Data"/> is then the JSON that instance wrote, and it is not announced to the other instances again.
/// </param>
internal sealed record CatcherChange(string Type, object? Data, string? Mailbox = null, bool Remote = false)
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

        if (Data is JsonElement remote)
        {
            remote.WriteTo(writer);
            return;
        }

        JsonSerializer.Serialize(writer, Data, ApiJsonContext.Default.GetTypeInfo(Data.GetType())
            ?? throw new InvalidOperationException($"{Data.GetType()} is not in the API's JSON context."));
    }
}

/// <summary>
/// Where the catcher announces the changes to the mailbox made after a message was stored: read status, tags,
/// deletes, truncation and pruning. New messages are announced by <see cref="MailCatcher.MessageStored"/>, which
/// carries the record. The live events (<see cref="Live.CatcherLive"/>) subscribe to <see cref="Published"/>.
/// </summary>
internal sealed class CatcherEventHub
{
    /// <summary>Raised for every change, on the thread that made it (a session's or a request's); handlers must not block.</summary>
    public event Action<CatcherChange>? Published;

    /// <summary>Whether anything listens; publishers skip building event data when nothing does.</summary>
    public bool HasSubscribers => Published is not null;

    /// <summary>Announces a change.</summary>
    /// <param name="type">The event type.</param>
    /// <param name="data">The data.</param>
    /// <param name="mailbox">The named mailbox the change concerns alone, or <see langword="null"/> for a change to the store.</param>
    public void Publish(string type, object? data, string? mailbox = null) => Published?.Invoke(new CatcherChange(type, data, mailbox));

    /// <summary>Announces a change another instance on the shared store made (<see cref="CatcherChange.Remote"/>).</summary>
    /// <param name="type">The event type.</param>
    /// <param name="data">The data as that instance wrote it, or <see langword="null"/>.</param>
    /// <param name="mailbox">The named mailbox the change concerns alone, or <see langword="null"/>.</param>
    public void PublishRemote(string type, JsonElement? data, string? mailbox) =>
        Published?.Invoke(new CatcherChange(type, data, mailbox, Remote: true));
}
