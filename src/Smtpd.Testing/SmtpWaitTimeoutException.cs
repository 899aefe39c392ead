namespace Smtpd.Testing;

/// <summary>
/// Thrown when <see cref="SmtpTestServer.WaitForMessageAsync"/> or <see cref="SmtpTestServer.WaitForMessagesAsync"/>
/// runs out of time. Its message says what was awaited and lists every message that did arrive (from, to and
/// subject), and the faults injected meanwhile.
/// </summary>
public sealed class SmtpWaitTimeoutException : TimeoutException
{
    /// <summary>Creates the exception with a generic message.</summary>
    public SmtpWaitTimeoutException()
        : this("Timed out waiting for a message.")
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The description.</param>
    public SmtpWaitTimeoutException(string message)
        : this(message, null)
    {
    }

    /// <summary>Creates the exception with a cause.</summary>
    /// <param name="message">The description.</param>
    /// <param name="innerException">The cause.</param>
    public SmtpWaitTimeoutException(string message, Exception? innerException)
        : base(message, innerException)
    {
        Received = [];
    }

    internal SmtpWaitTimeoutException(string message, IReadOnlyList<SmtpReceivedMessage> received, int matched)
        : base(message)
    {
        Received = received;
        Matched = matched;
    }

    /// <summary>Every message the server held when the wait gave up.</summary>
    public IReadOnlyList<SmtpReceivedMessage> Received { get; }

    /// <summary>How many messages matched the condition, fewer than were awaited.</summary>
    public int Matched { get; }
}
