using Smtpd.IO;
using Smtpd.Parsing;
using Smtpd.Protocol.Commands;

namespace Smtpd.Sessions;

/// <summary>
/// The open mail transaction (RFC 5321 3.3): the sender and parameters of MAIL, the accepted recipients, and the
/// content buffer with its DATA decoder or BDAT chunk. One per session, reused from transaction to transaction so
/// that a warm session allocates nothing for it.
/// </summary>
internal sealed class SmtpTransaction(SmtpServerOptions options) : IDisposable
{
    private readonly List<SmtpMailbox> _recipients = [];

    /// <summary>The reverse-path of MAIL; <see langword="null"/> for the null path <c>&lt;&gt;</c> or before MAIL.</summary>
    public SmtpMailbox? Sender { get; private set; }

    public SmtpBodyType Body { get; private set; }

    /// <summary>Whether MAIL carried SMTPUTF8 (RFC 6531): only then may RCPT name UTF-8 mailboxes.</summary>
    public bool SmtpUtf8 { get; private set; }

    public long? DeclaredSize { get; private set; }

    // The RFC 3461 parameters of MAIL; each recipient carries its own in SmtpMailbox.Dsn.
    public SmtpDsnReturn DsnReturn { get; private set; }

    public string? DsnEnvelopeId { get; private set; }

    public IReadOnlyList<SmtpMailbox> Recipients => _recipients;

    public int RecipientCount => _recipients.Count;

    /// <summary>The content of DATA or BDAT; created at the first transaction that has content, then reused.</summary>
    public MessageBuffer? Content { get; private set; }

    /// <summary>The DATA decoder; created at the first DATA, then reused.</summary>
    public DataDecoder? Decoder { get; private set; }

    /// <summary>Octets of the current BDAT chunk still to read.</summary>
    public long ChunkRemaining { get; set; }

    public bool ChunkIsLast { get; private set; }

    /// <summary>The reply for a refused chunk whose octets are being read and dropped, or <see langword="null"/>.</summary>
    public SmtpReply? ChunkRejection { get; set; }

    /// <summary>When the content began (<see cref="TimeProvider.GetTimestamp"/>), for <see cref="SmtpServerOptions.MinimumDataRate"/>.</summary>
    public long ContentStartedAt { get; private set; }

    /// <summary>Whether anything will read the content; without a delivery callback the server is a sink.</summary>
    public bool HasDeliveryCallback => MessageDelivery.HasCallback(options);

    public void Begin(MailCommand mail)
    {
        Sender = mail.Sender;
        Body = mail.Body;
        SmtpUtf8 = mail.SmtpUtf8;
        DeclaredSize = mail.DeclaredSize;
        DsnReturn = mail.DsnReturn;
        DsnEnvelopeId = mail.DsnEnvelopeId;
    }

    public void AddRecipient(SmtpMailbox recipient) => _recipients.Add(recipient);

    /// <summary>Readies the content buffer for a new message.</summary>
    public void PrepareContent(long startedAt)
    {
        ContentStartedAt = startedAt;
        Content ??= NewContentBuffer();
        Content.Reset();
        Content.MaxLength = options.MaxMessageSize;
        Content.CountOnly = !HasDeliveryCallback;
    }

    /// <summary>Readies the DATA decoder (RFC 5321 4.5.2 dot-unstuffing, CRLF.CRLF only).</summary>
    public DataDecoder PrepareDecoder()
    {
        Decoder ??= new DataDecoder(options.BareLineEndings, options.MaxTextLineLength);
        Decoder.Reset();
        return Decoder;
    }

    /// <summary>Starts reading a BDAT chunk; a refused one (<paramref name="rejection"/>) is read into a buffer that stores nothing.</summary>
    public void StartChunk(BdatCommand chunk, SmtpReply? rejection)
    {
        ChunkRemaining = chunk.Size;
        ChunkIsLast = chunk.IsLast;
        ChunkRejection = rejection;
        if (rejection is not null)
        {
            Content ??= NewContentBuffer();
            Content.Reset();
            Content.MaxLength = 0;
        }
    }

    /// <summary>The envelope handed to the delivery callbacks.</summary>
    public SmtpEnvelope ToEnvelope() => new(Sender, _recipients.ToArray(), Body, SmtpUtf8, DeclaredSize, DsnReturn, DsnEnvelopeId);

    /// <summary>Forgets the transaction (RSET, HELO, the end of a message); the buffers stay for the next one.</summary>
    public void Reset()
    {
        Sender = null;
        _recipients.Clear();
        Body = SmtpBodyType.SevenBit;
        SmtpUtf8 = false;
        DeclaredSize = null;
        DsnReturn = SmtpDsnReturn.None;
        DsnEnvelopeId = null;
        Content?.Reset();
    }

    public void Dispose() => Content?.Dispose();

    private MessageBuffer NewContentBuffer() => new(options.MessageMemoryThreshold, options.MaxMessageSize, options.SpoolDirectory);
}
