namespace Smtpd.Catcher.Relay;

/// <summary>Why a relay failed: what the caller can do differs.</summary>
internal enum RelayFailure
{
    /// <summary>The server answered and refused (a 4xx or 5xx reply, failed AUTH, no STARTTLS when it is required).</summary>
    Refused,

    /// <summary>The server could not be reached or dropped the connection (refused connect, DNS, TLS handshake, timeout).</summary>
    Unreachable,
}

/// <summary>A relay that did not happen, with a message naming the server and, when it answered, its reply.</summary>
/// <param name="failure">Refused or unreachable.</param>
/// <param name="message">One line, such as <c>smtp://mx:25 refused RCPT TO:&lt;a@b&gt;: 550 5.1.1 no such user</c>.</param>
/// <param name="innerException">MailKit's or the socket's error.</param>
internal sealed class RelayException(RelayFailure failure, string message, Exception? innerException = null) : Exception(message, innerException)
{
    /// <summary>Refused or unreachable.</summary>
    public RelayFailure Failure { get; } = failure;
}
