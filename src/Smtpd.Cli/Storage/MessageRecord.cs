namespace Smtpd.Cli.Storage;

/// <summary>Everything the store keeps about one message besides its content: the envelope, the session and the listing headers.</summary>
internal sealed record MessageRecord
{
    /// <summary>The store's id; 0 until the message is stored.</summary>
    public long Id { get; init; }

    /// <summary>When the end of the content was received.</summary>
    public required DateTimeOffset ReceivedAt { get; init; }

    /// <summary>The MAIL FROM address; empty for the null path <c>&lt;&gt;</c>.</summary>
    public required string MailFrom { get; init; }

    /// <summary>Every RCPT TO address, in order, Bcc recipients included.</summary>
    public required IReadOnlyList<string> Recipients { get; init; }

    /// <summary>The client's address and port.</summary>
    public required string Client { get; init; }

    /// <summary>The HELO or EHLO name.</summary>
    public string? Helo { get; init; }

    /// <summary>Whether the message came over TLS.</summary>
    public bool Tls { get; init; }

    /// <summary>The TLS protocol, such as <c>Tls13</c>, when <see cref="Tls"/>.</summary>
    public string? TlsProtocol { get; init; }

    /// <summary>The authenticated identity, if the client used AUTH.</summary>
    public string? User { get; init; }

    /// <summary>The content size in octets.</summary>
    public required long Size { get; init; }

    /// <summary>The SHA-256 of the content, in lower-case hex.</summary>
    public required string Sha256 { get; init; }

    /// <summary>The decoded Subject header, if any.</summary>
    public string? Subject { get; init; }

    /// <summary>The From header, decoded, if any.</summary>
    public string? HeaderFrom { get; init; }

    /// <summary>The To header, decoded, if any.</summary>
    public string? HeaderTo { get; init; }

    /// <summary>The Date header in ISO 8601, if present and valid.</summary>
    public string? HeaderDate { get; init; }

    /// <summary>The Message-ID header, without angle brackets, if any.</summary>
    public string? MessageId { get; init; }

    /// <summary>Whether some MIME part is an attachment.</summary>
    public bool HasAttachments { get; init; }

    /// <summary>The time as stored and printed: ISO 8601 in UTC with seven fractional digits, so text order is time order.</summary>
    public string ReceivedAtText => FormatTime(ReceivedAt);

    /// <summary>Formats a time the way the store keeps it.</summary>
    /// <param name="time">The time.</param>
    /// <returns>ISO 8601 in UTC.</returns>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
