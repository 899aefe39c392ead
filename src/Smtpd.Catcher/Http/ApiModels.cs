using System.Text.Json.Serialization;

namespace Smtpd.Catcher.Http;

// The JSON shapes of Mailpit's API v1 (its swagger file is the contract): message objects are PascalCase, the list's
// top level is snake_case, address lists are [] and never null. Smtpd is this project's addition; Mailpit clients
// ignore members they do not know.

/// <summary>A mailbox: Mailpit's <c>Address</c>.</summary>
internal sealed class ApiAddress
{
    public string Name { get; init; } = string.Empty;

    public string Address { get; init; } = string.Empty;
}

/// <summary>What the SMTP transaction said, which Mailpit does not record.</summary>
internal sealed class ApiSmtpd
{
    public string MailFrom { get; init; } = string.Empty;

    public IReadOnlyList<string> Recipients { get; init; } = [];

    public string Client { get; init; } = string.Empty;

    public string? Helo { get; init; }

    public ApiTls? Tls { get; init; }

    public string? User { get; init; }

    public ApiDsn? Dsn { get; init; }

    public string Sha256 { get; init; } = string.Empty;
}

/// <summary>The TLS of the session that carried the message.</summary>
internal sealed class ApiTls
{
    public string? Protocol { get; init; }

    public string? Cipher { get; init; }
}

/// <summary>The RFC 3461 parameters of the transaction.</summary>
internal sealed class ApiDsn
{
    public string? Ret { get; init; }

    public string? EnvId { get; init; }

    public IReadOnlyList<ApiDsnRecipient> Recipients { get; init; } = [];
}

/// <summary>The RFC 3461 parameters of one RCPT.</summary>
internal sealed class ApiDsnRecipient
{
    public string To { get; init; } = string.Empty;

    public string? Notify { get; init; }

    public string? Orcpt { get; init; }
}

/// <summary>Mailpit's <c>MessageSummary</c>.</summary>
internal sealed class ApiMessageSummary
{
    public string ID { get; init; } = string.Empty;

    public string MessageID { get; init; } = string.Empty;

    public bool Read { get; init; }

    public ApiAddress? From { get; init; }

    public IReadOnlyList<ApiAddress> To { get; init; } = [];

    public IReadOnlyList<ApiAddress> Cc { get; init; } = [];

    public IReadOnlyList<ApiAddress> Bcc { get; init; } = [];

    public IReadOnlyList<ApiAddress> ReplyTo { get; init; } = [];

    public string Subject { get; init; } = string.Empty;

    public DateTimeOffset Created { get; init; }

    public string Username { get; init; } = string.Empty;

    public IReadOnlyList<string> Tags { get; init; } = [];

    public long Size { get; init; }

    public int Attachments { get; init; }

    public string Snippet { get; init; } = string.Empty;

    public ApiSmtpd Smtpd { get; init; } = new();
}

/// <summary>Mailpit's <c>MessagesSummary</c>: the list and search answer.</summary>
internal sealed class ApiMessagesSummary
{
    [JsonPropertyName("total")]
    public long Total { get; init; }

    [JsonPropertyName("unread")]
    public long Unread { get; init; }

    [JsonPropertyName("count")]
    public int Count { get; init; }

    [JsonPropertyName("messages_count")]
    public long MessagesCount { get; init; }

    [JsonPropertyName("messages_unread")]
    public long MessagesUnread { get; init; }

    [JsonPropertyName("start")]
    public int Start { get; init; }

    [JsonPropertyName("tags")]
    public IReadOnlyList<string> Tags { get; init; } = [];

    [JsonPropertyName("messages")]
    public IReadOnlyList<ApiMessageSummary> Messages { get; init; } = [];
}

/// <summary>Mailpit's <c>Attachment</c>: an inline part or an attachment.</summary>
internal sealed class ApiAttachment
{
    public string PartID { get; init; } = string.Empty;

    public string FileName { get; init; } = string.Empty;

    public string ContentType { get; init; } = string.Empty;

    public string ContentID { get; init; } = string.Empty;

    public long Size { get; init; }

    public ApiChecksums Checksums { get; init; } = new();
}

/// <summary>The checksums of a part's decoded content, lower-case hex.</summary>
internal sealed class ApiChecksums
{
    public string MD5 { get; init; } = string.Empty;

    public string SHA1 { get; init; } = string.Empty;

    public string SHA256 { get; init; } = string.Empty;
}

/// <summary>Mailpit's <c>ListUnsubscribe</c>.</summary>
internal sealed class ApiListUnsubscribe
{
    public string Header { get; init; } = string.Empty;

    public IReadOnlyList<string> Links { get; init; } = [];

    public string Errors { get; init; } = string.Empty;

    public string HeaderPost { get; init; } = string.Empty;
}

/// <summary>Mailpit's <c>Message</c>: the full message.</summary>
internal sealed class ApiMessage
{
    public string ID { get; init; } = string.Empty;

    public string MessageID { get; init; } = string.Empty;

    /// <summary>Whether the message is read after this request (a plain fetch marks it).</summary>
    public bool Read { get; set; }

    public ApiAddress? From { get; init; }

    public IReadOnlyList<ApiAddress> To { get; init; } = [];

    public IReadOnlyList<ApiAddress> Cc { get; init; } = [];

    public IReadOnlyList<ApiAddress> Bcc { get; init; } = [];

    public IReadOnlyList<ApiAddress> ReplyTo { get; init; } = [];

    public string ReturnPath { get; init; } = string.Empty;

    public string Subject { get; init; } = string.Empty;

    public ApiListUnsubscribe ListUnsubscribe { get; init; } = new();

    public DateTimeOffset Date { get; init; }

    public DateTimeOffset Created { get; init; }

    public IReadOnlyList<string> Tags { get; init; } = [];

    public string Username { get; init; } = string.Empty;

    public string Text { get; init; } = string.Empty;

    public string HTML { get; init; } = string.Empty;

    public long Size { get; init; }

    public IReadOnlyList<ApiAttachment> Inline { get; init; } = [];

    public IReadOnlyList<ApiAttachment> Attachments { get; init; } = [];

    public ApiSmtpd Smtpd { get; init; } = new();
}

/// <summary>A link found in a message's bodies.</summary>
internal sealed class ApiLink
{
    public string URL { get; init; } = string.Empty;

    public string Text { get; init; } = string.Empty;

    public string Source { get; init; } = string.Empty;
}

/// <summary>The answer of <c>/links</c>.</summary>
internal sealed class ApiLinks
{
    public IReadOnlyList<ApiLink> Links { get; init; } = [];
}

/// <summary>The answer of <c>/link-check</c>, Mailpit's <c>LinkCheckResponse</c>.</summary>
internal sealed class ApiLinkCheck
{
    /// <summary>How many links failed: a status of 400 or more, or none at all (0).</summary>
    public int Errors { get; init; }

    public IReadOnlyList<ApiCheckedLink> Links { get; init; } = [];
}

/// <summary>One link of <c>/link-check</c>: the status its HEAD request got, or 0 and the reason it got none.</summary>
internal sealed class ApiCheckedLink
{
    public string URL { get; init; } = string.Empty;

    public int StatusCode { get; init; }

    public string Status { get; init; } = string.Empty;
}

/// <summary>A numeric one-time code found in a message, with the words around it.</summary>
internal sealed class ApiCode
{
    public string Code { get; init; } = string.Empty;

    public string Context { get; init; } = string.Empty;
}

/// <summary>The answer of <c>/codes</c>.</summary>
internal sealed class ApiCodes
{
    public IReadOnlyList<ApiCode> Codes { get; init; } = [];
}

/// <summary>One named mailbox in <c>GET /api/v1/mailboxes</c> (an smtpd extension).</summary>
internal sealed class ApiMailbox
{
    public string Name { get; init; } = string.Empty;

    public IReadOnlyList<string> Rules { get; init; } = [];

    public int Keep { get; init; }

    public long Total { get; init; }

    public long Unread { get; init; }
}

/// <summary>The answer of <c>GET /api/v1/mailboxes</c>: every message (the default mailbox) and each named mailbox.</summary>
internal sealed class ApiMailboxes
{
    public long Total { get; init; }

    public long Unread { get; init; }

    public IReadOnlyList<ApiMailbox> Mailboxes { get; init; } = [];
}

/// <summary>Mailpit's <c>AppInformation</c>.</summary>
internal sealed class ApiInfo
{
    public string Version { get; init; } = string.Empty;

    public string LatestVersion { get; init; } = string.Empty;

    public string Database { get; init; } = string.Empty;

    public long DatabaseSize { get; init; }

    public long Messages { get; init; }

    public long Unread { get; init; }

    public IReadOnlyDictionary<string, long> Tags { get; init; } = new Dictionary<string, long>();

    public ApiRuntimeStats RuntimeStats { get; init; } = new();
}

/// <summary>The part of Mailpit's <c>RuntimeStats</c> the catcher knows.</summary>
internal sealed class ApiRuntimeStats
{
    public long Uptime { get; init; }

    public long Memory { get; init; }

    public long MessagesDeleted { get; init; }

    public long SMTPAccepted { get; init; }

    public long SMTPAcceptedSize { get; init; }

    public long SMTPRejected { get; init; }

    public long SMTPIgnored { get; init; }
}

/// <summary>Mailpit's <c>WebUIConfiguration</c>, as it is for a catcher that relays nothing.</summary>
internal sealed class ApiWebUi
{
    public string Label { get; init; } = string.Empty;

    public ApiMessageRelay MessageRelay { get; init; } = new();

    public bool SpamAssassin { get; init; }

    public bool ChaosEnabled { get; init; }

    public bool DuplicatesIgnored { get; init; }

    public bool HideDeleteAllButton { get; init; }

    /// <summary>smtpd's addition: where to send mail, for the inbox's empty state.</summary>
    public ApiWebUiSmtpd Smtpd { get; init; } = new();
}

/// <summary>The catcher's SMTP listeners, as <c>HOST:PORT</c> (IPv6 in brackets), with their real ports.</summary>
internal sealed class ApiWebUiSmtpd
{
    /// <summary>Plain listeners (STARTTLS where offered).</summary>
    public IReadOnlyList<string> SmtpListeners { get; init; } = [];

    /// <summary>Implicit-TLS listeners (RFC 8314, <c>--smtps</c>).</summary>
    public IReadOnlyList<string> SmtpsListeners { get; init; } = [];
}

/// <summary>Mailpit's relay settings: smtpd never relays.</summary>
internal sealed class ApiMessageRelay
{
    public bool Enabled { get; init; }

    public string SMTPServer { get; init; } = string.Empty;

    public string ReturnPath { get; init; } = string.Empty;

    public string AllowedRecipients { get; init; } = string.Empty;

    public string BlockedRecipients { get; init; } = string.Empty;

    public bool OverrideFrom { get; init; }

    public bool PreserveMessageIDs { get; init; }
}

/// <summary>The body of <c>PUT /api/v1/messages</c>.</summary>
internal sealed class ReadStatusRequest
{
    public List<string>? IDs { get; init; }

    public bool Read { get; init; }

    public string? Search { get; init; }
}

/// <summary>The body of <c>DELETE /api/v1/messages</c>.</summary>
internal sealed class DeleteRequest
{
    public List<string>? IDs { get; init; }
}

/// <summary>The body of <c>PUT /api/v1/tags</c>.</summary>
internal sealed class SetTagsRequest
{
    public List<string>? IDs { get; init; }

    public List<string>? Tags { get; init; }
}

/// <summary>The body of <c>PUT /api/v1/tags/{Tag}</c>.</summary>
internal sealed class RenameTagRequest
{
    public string? Name { get; init; }
}

/// <summary>A mailbox in a send request.</summary>
internal sealed class SendAddress
{
    public string? Email { get; init; }

    public string? Name { get; init; }
}

/// <summary>An attachment in a send request; a <c>ContentID</c> makes it inline.</summary>
internal sealed class SendAttachment
{
    public string? Content { get; init; }

    public string? Filename { get; init; }

    public string? ContentType { get; init; }

    public string? ContentID { get; init; }
}

/// <summary>The body of <c>POST /api/v1/send</c>, Mailpit's format.</summary>
internal sealed class SendRequest
{
    public SendAddress? From { get; init; }

    public List<SendAddress>? To { get; init; }

    public List<SendAddress>? Cc { get; init; }

    public List<string>? Bcc { get; init; }

    public List<SendAddress>? ReplyTo { get; init; }

    public string? Subject { get; init; }

    public string? Text { get; init; }

    public string? HTML { get; init; }

    public List<SendAttachment>? Attachments { get; init; }

    public Dictionary<string, string>? Headers { get; init; }

    public List<string>? Tags { get; init; }
}

/// <summary>The answer of <c>POST /api/v1/send</c>.</summary>
internal sealed class SendResponse
{
    public string ID { get; init; } = string.Empty;
}

/// <summary>The JSON error of <c>POST /api/v1/send</c> (Mailpit's <c>JSONErrorResponse</c>).</summary>
internal sealed class JsonError
{
    public string Error { get; init; } = string.Empty;
}

/// <summary>The data of an <c>update</c> event for a read-status change.</summary>
internal sealed class ReadUpdateEvent
{
    public string ID { get; init; } = string.Empty;

    public bool Read { get; init; }
}

/// <summary>The data of an <c>update</c> event for a tag change.</summary>
internal sealed class TagsUpdateEvent
{
    public string ID { get; init; } = string.Empty;

    public IReadOnlyList<string> Tags { get; init; } = [];
}

/// <summary>The data of a <c>delete</c> event.</summary>
internal sealed class DeleteEvent
{
    public string ID { get; init; } = string.Empty;
}

/// <summary>
/// The API's JSON, source-generated: no reflection at run time, names exactly as declared (Mailpit's casing), and
/// the default encoder, which escapes <c>&lt;</c>, <c>&gt;</c>, <c>&amp;</c> and quotes so hostile text stays data.
/// Request bodies match member names in any case, as Mailpit's decoder does.
/// </summary>
[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(ApiMessagesSummary))]
[JsonSerializable(typeof(ApiMessage))]
[JsonSerializable(typeof(ApiLinks))]
[JsonSerializable(typeof(ApiLinkCheck))]
[JsonSerializable(typeof(ApiCodes))]
[JsonSerializable(typeof(ApiInfo))]
[JsonSerializable(typeof(ApiMailboxes))]
[JsonSerializable(typeof(ApiWebUi))]
[JsonSerializable(typeof(ReadStatusRequest))]
[JsonSerializable(typeof(DeleteRequest))]
[JsonSerializable(typeof(SetTagsRequest))]
[JsonSerializable(typeof(RenameTagRequest))]
[JsonSerializable(typeof(SendRequest))]
[JsonSerializable(typeof(SendResponse))]
[JsonSerializable(typeof(JsonError))]
[JsonSerializable(typeof(ReadUpdateEvent))]
[JsonSerializable(typeof(TagsUpdateEvent))]
[JsonSerializable(typeof(DeleteEvent))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(Dictionary<string, List<string>>))]
[JsonSerializable(typeof(ReleaseRequest))]
[JsonSerializable(typeof(Relay.ErrorEvent))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
