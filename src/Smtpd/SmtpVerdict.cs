namespace Smtpd;

/// <summary>
/// A callback's answer: accept, or reject, optionally with the exact SMTP reply to send.
/// </summary>
/// <example>
/// <code>
/// options.ValidateSender = (session, sender, ct) =&gt; ValueTask.FromResult(
///     sender?.Domain == "spam.example" ? SmtpVerdict.Reject("blocked domain") : SmtpVerdict.Accept);
/// </code>
/// </example>
public sealed class SmtpVerdict
{
    private SmtpVerdict(bool isAccepted, SmtpReply? reply, string? reason, bool isDisconnect = false)
    {
        IsAccepted = isAccepted;
        Reply = reply;
        Reason = reason;
        IsDisconnect = isDisconnect;
    }

    /// <summary>Accept with the server's standard reply.</summary>
    public static SmtpVerdict Accept { get; } = new(true, null, null);

    /// <summary>
    /// Drop the connection at once, with no reply: what a crashed or overloaded server looks like to the client.
    /// Meant for fault injection in tests; a message whose delivery answers this is not accepted.
    /// </summary>
    public static SmtpVerdict Disconnect { get; } = new(false, null, "disconnect requested by callback", isDisconnect: true);

    /// <summary>Whether the verdict is <see cref="Disconnect"/>.</summary>
    public bool IsDisconnect { get; }

    /// <summary>Whether the callback accepted.</summary>
    public bool IsAccepted { get; }

    /// <summary>The exact reply the client gets, or <see langword="null"/> for the server's standard reply.</summary>
    public SmtpReply? Reply { get; }

    /// <summary>
    /// Why the callback rejected. It is logged; it reaches the client only in the host-validation greeting
    /// (<c>550 Access denied: reason</c>), as in Tcl smtpd. Sender and recipient reasons stay private.
    /// </summary>
    public string? Reason { get; }

    /// <summary>Accept with a reply of the callback's own, such as <c>250 2.0.0 Queued as 1234</c>.</summary>
    /// <param name="reply">A 2xx reply.</param>
    /// <exception cref="ArgumentException">The reply is not 2xx.</exception>
    public static SmtpVerdict AcceptWith(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        if (reply.Code is < 200 or >= 300)
        {
            throw new ArgumentException("An accepting reply must be 2xx.", nameof(reply));
        }

        return new SmtpVerdict(true, reply, null);
    }

    /// <summary>Reject with the server's standard 5xx reply; <paramref name="reason"/> is logged but not sent (except for host validation).</summary>
    /// <param name="reason">Why, for the log.</param>
    public static SmtpVerdict Reject(string? reason = null) => new(false, null, reason);

    /// <summary>Reject with this exact reply.</summary>
    /// <param name="reply">A 4xx (try later) or 5xx (permanent) reply.</param>
    /// <exception cref="ArgumentException">The reply is not 4xx or 5xx.</exception>
    public static SmtpVerdict Reject(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        if (reply.Code < 400)
        {
            throw new ArgumentException("A rejecting reply must be 4xx or 5xx.", nameof(reply));
        }

        return new SmtpVerdict(false, reply, reply.Text);
    }

    /// <summary>Reject with the reply <paramref name="code"/> <paramref name="enhancedStatusCode"/> <paramref name="text"/>.</summary>
    /// <param name="code">A 4xx or 5xx code.</param>
    /// <param name="enhancedStatusCode">An RFC 3463 code such as <c>5.7.1</c>, or <see langword="null"/>.</param>
    /// <param name="text">The text; no CR or LF.</param>
    /// <exception cref="ArgumentException">The reply is malformed or not 4xx/5xx.</exception>
    public static SmtpVerdict Reject(int code, string? enhancedStatusCode, string text) => Reject(new SmtpReply(code, enhancedStatusCode, text));
}
