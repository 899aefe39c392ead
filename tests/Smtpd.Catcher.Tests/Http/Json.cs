using System.Text.Json;

namespace Smtpd.Catcher.Tests.Http;

/// <summary>Assertions on the exact shape of JSON answers.</summary>
internal static class Json
{
    public static readonly string[] SummaryMembers =
    [
        "ID", "MessageID", "Read", "From", "To", "Cc", "Bcc", "ReplyTo", "Subject", "Created", "Username", "Tags",
        "Size", "Attachments", "Snippet", "Smtpd",
    ];

    public static readonly string[] SmtpdMembers = ["MailFrom", "Recipients", "Client", "Helo", "Tls", "User", "Dsn", "Sha256"];

    /// <summary>The object has exactly these members, in any order.</summary>
    public static void HasMembers(JsonElement element, params string[] names)
    {
        Assert.Equal(JsonValueKind.Object, element.ValueKind);
        Assert.Equal(names.Order(StringComparer.Ordinal), element.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
    }

    public static void Kind(JsonElement element, string name, JsonValueKind kind) =>
        Assert.True(element.GetProperty(name).ValueKind == kind, $"{name} is {element.GetProperty(name).ValueKind}, not {kind}");

    /// <summary>A list entry has Mailpit's members with Mailpit's kinds.</summary>
    public static void IsSummary(JsonElement message)
    {
        HasMembers(message, SummaryMembers);
        Kind(message, "ID", JsonValueKind.String);
        Kind(message, "MessageID", JsonValueKind.String);
        Assert.True(message.GetProperty("Read").ValueKind is JsonValueKind.True or JsonValueKind.False);
        Kind(message, "From", JsonValueKind.Object);
        HasMembers(message.GetProperty("From"), "Name", "Address");
        foreach (var list in new[] { "To", "Cc", "Bcc", "ReplyTo", "Tags" })
        {
            Kind(message, list, JsonValueKind.Array);
        }

        Kind(message, "Subject", JsonValueKind.String);
        Kind(message, "Created", JsonValueKind.String);
        Assert.True(DateTimeOffset.TryParse(message.GetProperty("Created").GetString(), System.Globalization.CultureInfo.InvariantCulture, out _));
        Kind(message, "Username", JsonValueKind.String);
        Kind(message, "Size", JsonValueKind.Number);
        Kind(message, "Attachments", JsonValueKind.Number);
        Kind(message, "Snippet", JsonValueKind.String);
        HasMembers(message.GetProperty("Smtpd"), SmtpdMembers);
    }
}
