using System.Text.Json;
using System.Text.Json.Serialization;

namespace Smtpd.Catcher.Http.Live;

/// <summary>The <c>Data</c> of an <c>update</c> event for a change of read status, Mailpit's <c>{"ID","Read"}</c>.</summary>
/// <param name="ID">The message's ID.</param>
/// <param name="Read">Whether it is now read.</param>
internal sealed record ReadStateData(string ID, bool Read);

/// <summary>The <c>Data</c> of an <c>update</c> event for a change of tags, Mailpit's <c>{"ID","Tags"}</c>.</summary>
/// <param name="ID">The message's ID.</param>
/// <param name="Tags">The message's tags now.</param>
internal sealed record TagsData(string ID, IReadOnlyList<string> Tags);

/// <summary>The <c>Data</c> of a <c>delete</c> event, Mailpit's <c>{"ID"}</c>.</summary>
/// <param name="ID">The deleted message's ID.</param>
internal sealed record DeletedData(string ID);

/// <summary>The <c>Data</c> of a <c>stats</c> event, Mailpit's <c>{"Total","Unread","Version"}</c>.</summary>
/// <param name="Total">Messages in the mailbox.</param>
/// <param name="Unread">Unread messages in the mailbox.</param>
/// <param name="Version">The server's version; Mailpit's browser inbox reloads itself when it changes.</param>
internal sealed record StatsData(long Total, long Unread, string Version);

/// <summary>The <c>Data</c> of the last SSE event, <c>closed</c>, when the server ends a stream: <c>{"Reason"}</c>.</summary>
/// <param name="Reason">Why, in one line: the client fell behind, or the server is stopping.</param>
internal sealed record ClosedData(string Reason);

/// <summary>Source-generated serializers for the live events' own <c>Data</c> objects (field names in Mailpit's PascalCase).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.General)]
[JsonSerializable(typeof(ReadStateData))]
[JsonSerializable(typeof(TagsData))]
[JsonSerializable(typeof(DeletedData))]
[JsonSerializable(typeof(StatsData))]
[JsonSerializable(typeof(ClosedData))]
internal sealed partial class LiveJsonContext : JsonSerializerContext;
