namespace Smtpd.Testing;

/// <summary>
/// Thrown by the assertion helpers (<see cref="SmtpMessageAssertions"/>, <see cref="SmtpReceivedMessage.GetFirstLink"/>,
/// <see cref="SmtpReceivedMessage.GetCode"/>) when what a test expects is not there. The message lists what was.
/// </summary>
public sealed class SmtpAssertionException : Exception
{
    /// <summary>Creates the exception with a generic message.</summary>
    public SmtpAssertionException()
        : base("An Smtpd.Testing assertion failed.")
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What was expected and what was found.</param>
    public SmtpAssertionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a cause.</summary>
    /// <param name="message">What was expected and what was found.</param>
    /// <param name="innerException">The cause.</param>
    public SmtpAssertionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
