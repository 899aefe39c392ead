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
    // What SetRecipientVerdict stores once the callback has returned and the session has read the verdicts.
    private static readonly SmtpVerdict?[] Closed = [];

    private readonly MessageBuffer _content;
    private readonly int _generation;

    // One entry per recipient, created by the first SetRecipientVerdict (a message without one allocates nothing);
    // Closed once the session has taken them. The array is its own lock, which makes a late call fail cleanly.
    private SmtpVerdict?[]? _recipientVerdicts;
    private bool _recipientVerdictsTaken;

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

    /// <summary>
    /// Gives one recipient its own verdict, for a delivery that succeeds for some recipients and fails for others
    /// (a full mailbox, an unknown user). Called from <see cref="SmtpServerOptions.Deliver"/> or
    /// <see cref="SmtpServerOptions.DeliverMime"/> while it runs; safe to call from several threads at once.
    /// </summary>
    /// <param name="index">
    /// The recipient's position in <see cref="SmtpEnvelope.Recipients"/>, which holds every accepted RCPT in order,
    /// duplicates included (RFC 2033 4.2 answers each one).
    /// </param>
    /// <param name="verdict">
    /// The recipient's verdict: <see cref="SmtpVerdict.Accept"/>, <see cref="SmtpVerdict.AcceptWith"/> or a rejection,
    /// with its own reply if wanted (<c>452 4.2.2 Mailbox full</c>). A later call for the same recipient replaces it.
    /// </param>
    /// <remarks>
    /// <para>
    /// Every recipient without a verdict of its own gets the verdict the callback returns. How the verdicts reach
    /// the client depends on the listener (<see cref="SmtpSessionContext.IsLmtp"/>):
    /// </para>
    /// <list type="bullet">
    /// <item><description>
    /// LMTP (RFC 2033 4.2, 4.3): one reply per recipient after the end of data or the last BDAT chunk, in RCPT order,
    /// each from the recipient's verdict.
    /// </description></item>
    /// <item><description>
    /// SMTP has one reply for the whole message, so no recipient may be refused while the message is accepted:
    /// the reply is the first refusal in RCPT order, and only when every recipient is accepted the callback's
    /// accepting reply. A callback can therefore serve both kinds of listener unchanged; on SMTP listeners,
    /// refuse single recipients at RCPT (<see cref="SmtpServerOptions.ValidateRecipient"/>) instead.
    /// </description></item>
    /// </list>
    /// <para>
    /// A callback that throws anything but <see cref="SmtpRejectedException"/> fails every recipient with
    /// <c>451 4.3.0</c>, whatever verdicts it had set; <see cref="SmtpRejectedException"/> counts as a returned
    /// rejection. <see cref="SmtpServerOptions.DeliverLines"/> receives no <see cref="SmtpMessage"/> and so has one
    /// verdict for all recipients.
    /// </para>
    /// </remarks>
    /// <example>
    /// <code>
    /// options.Deliver = async (message, ct) =&gt;
    /// {
    ///     for (var i = 0; i &lt; message.Envelope.Recipients.Count; i++)
    ///     {
    ///         if (!await mailboxes.TryStoreAsync(message.Envelope.Recipients[i], message.OpenRead(), ct))
    ///         {
    ///             message.SetRecipientVerdict(i, SmtpVerdict.Reject(452, "4.2.2", "Mailbox full"));
    ///         }
    ///     }
    ///
    ///     return SmtpVerdict.Accept;   // for every recipient without a verdict of its own
    /// };
    /// </code>
    /// </example>
    /// <exception cref="ArgumentNullException"><paramref name="verdict"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not a recipient's position.</exception>
    /// <exception cref="ArgumentException"><paramref name="verdict"/> is <see cref="SmtpVerdict.Disconnect"/>, which ends the whole session and so can only be returned.</exception>
    /// <exception cref="InvalidOperationException">The delivery callback has already completed.</exception>
    public void SetRecipientVerdict(int index, SmtpVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(verdict);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Envelope.Recipients.Count);
        if (verdict.IsDisconnect)
        {
            throw new ArgumentException("Disconnect ends the whole session: return it from the callback instead.", nameof(verdict));
        }

        var verdicts = Volatile.Read(ref _recipientVerdicts);
        if (verdicts is null)
        {
            var created = new SmtpVerdict?[Envelope.Recipients.Count];
            verdicts = Interlocked.CompareExchange(ref _recipientVerdicts, created, null) ?? created;
        }

        lock (verdicts)
        {
            if (ReferenceEquals(verdicts, Closed) || _recipientVerdictsTaken)
            {
                throw new InvalidOperationException("The delivery callback has already completed: recipient verdicts can only be set while it runs.");
            }

            verdicts[index] = verdict;
        }
    }

    /// <summary>
    /// Gives every occurrence of <paramref name="recipient"/> in <see cref="SmtpEnvelope.Recipients"/> its own
    /// verdict; see <see cref="SetRecipientVerdict(int, SmtpVerdict)"/> for the rules.
    /// </summary>
    /// <param name="recipient">A recipient of the message; mailboxes compare as <see cref="SmtpMailbox.Equals(SmtpMailbox)"/> does.</param>
    /// <param name="verdict">The recipient's verdict.</param>
    /// <exception cref="ArgumentNullException"><paramref name="recipient"/> or <paramref name="verdict"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="recipient"/> is not a recipient of the message, or <paramref name="verdict"/> is <see cref="SmtpVerdict.Disconnect"/>.</exception>
    /// <exception cref="InvalidOperationException">The delivery callback has already completed.</exception>
    public void SetRecipientVerdict(SmtpMailbox recipient, SmtpVerdict verdict)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        ArgumentNullException.ThrowIfNull(verdict);
        var found = false;
        for (var i = 0; i < Envelope.Recipients.Count; i++)
        {
            if (recipient.Equals(Envelope.Recipients[i]))
            {
                SetRecipientVerdict(i, verdict);
                found = true;
            }
        }

        if (!found)
        {
            throw new ArgumentException($"<{recipient}> is not a recipient of this message.", nameof(recipient));
        }
    }

    /// <summary>
    /// Ends <see cref="SetRecipientVerdict(int, SmtpVerdict)"/> for this message and returns what was set: one entry per
    /// recipient (<see langword="null"/> where none was set), or <see langword="null"/> when nothing was.
    /// </summary>
    internal SmtpVerdict?[]? TakeRecipientVerdicts()
    {
        var verdicts = Interlocked.CompareExchange(ref _recipientVerdicts, Closed, null);
        if (verdicts is null)
        {
            return null;
        }

        lock (verdicts)
        {
            _recipientVerdictsTaken = true;
            return verdicts;
        }
    }
}
