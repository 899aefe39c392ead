namespace Smtpd;

/// <summary>
/// Thrown by a callback to reject, like raising an error in a Tcl smtpd callback. It has the same effect as
/// returning <see cref="SmtpVerdict.Reject(string?)"/> or <see cref="SmtpVerdict.Reject(SmtpReply)"/>.
/// Any other exception is an unexpected failure: the client gets <c>451 4.3.0</c> and the error is logged.
/// </summary>
public sealed class SmtpRejectedException : Exception
{
    /// <summary>Rejects with the server's standard reply.</summary>
    public SmtpRejectedException()
        : this("Rejected")
    {
    }

    /// <summary>Rejects with the server's standard reply, logging <paramref name="message"/>.</summary>
    /// <param name="message">The reason.</param>
    public SmtpRejectedException(string message)
        : base(message)
    {
    }

    /// <summary>Rejects with the server's standard reply.</summary>
    /// <param name="message">The reason.</param>
    /// <param name="innerException">The cause.</param>
    public SmtpRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Rejects with this exact reply.</summary>
    /// <param name="reply">A 4xx or 5xx reply.</param>
    public SmtpRejectedException(SmtpReply reply)
        : base(reply?.Text ?? throw new ArgumentNullException(nameof(reply)))
    {
        Reply = reply.Code >= 400 ? reply : throw new ArgumentException("A rejecting reply must be 4xx or 5xx.", nameof(reply));
    }

    /// <summary>The exact reply, or <see langword="null"/> for the standard one.</summary>
    public SmtpReply? Reply { get; }

    internal SmtpVerdict ToVerdict() => Reply is null ? SmtpVerdict.Reject(Message) : SmtpVerdict.Reject(Reply);
}
