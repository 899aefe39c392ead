using Smtpd.IO;

namespace Smtpd;

/// <summary>A message the server received, as handed to the delivery callbacks.</summary>
/// <remarks>
/// The content lives in memory up to <see cref="SmtpServerOptions.MessageMemoryThreshold"/> and in a
/// temporary file beyond it. It is released as soon as the delivery callback completes, so a callback
/// that wants to keep the message must copy it (the Tcl smtpd rule for its MIME token).
/// </remarks>
public sealed class SmtpMessage
{
    private readonly MessageBuffer _content;
    private readonly int _generation;

    internal SmtpMessage(SmtpSessionContext session, SmtpEnvelope envelope, MessageBuffer content)
    {
        Session = session;
        Envelope = envelope;
        _content = content;
        _generation = content.Generation;
        ReceivedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>The session that received the message.</summary>
    public SmtpSessionContext Session { get; }

    /// <summary>The sender and recipients.</summary>
    public SmtpEnvelope Envelope { get; }

    /// <summary>When the end of the content was received.</summary>
    public DateTimeOffset ReceivedAt { get; }

    /// <summary>The content size in octets, after dot-unstuffing.</summary>
    public long Size => _content.Length;

    /// <summary>
    /// Opens a read-only, seekable stream over the exact content bytes: after dot-unstuffing for DATA, exactly
    /// the chunk octets for BDAT. Each call returns an independent stream positioned at the start.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The delivery callback has already completed.</exception>
    public Stream OpenRead() => _content.OpenRead(_generation);
}
