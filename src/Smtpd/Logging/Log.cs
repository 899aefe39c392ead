using System.Net;
using Microsoft.Extensions.Logging;

namespace Smtpd.Logging;

/// <summary>
/// Every log event of the server, source-generated so that a disabled level costs one check and no allocation.
/// Session events run inside a scope carrying the session id.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "SMTP server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, IPEndPoint endPoint);

    [LoggerMessage(2, LogLevel.Information, "SMTP server stopped listening")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(3, LogLevel.Debug, "Session started from {RemoteEndPoint}")]
    public static partial void SessionStarted(ILogger logger, IPEndPoint remoteEndPoint);

    [LoggerMessage(4, LogLevel.Debug, "Session ended")]
    public static partial void SessionEnded(ILogger logger);

    [LoggerMessage(5, LogLevel.Trace, "C: {Line}")]
    public static partial void CommandReceived(ILogger logger, string line);

    [LoggerMessage(6, LogLevel.Trace, "S: {Reply}")]
    public static partial void ReplySent(ILogger logger, string reply);

    [LoggerMessage(7, LogLevel.Error, "The {Callback} callback failed; the client was answered 451")]
    public static partial void CallbackFailed(ILogger logger, string callback, Exception exception);

    [LoggerMessage(8, LogLevel.Information, "The {Callback} callback rejected: {Reason}")]
    public static partial void CallbackRejected(ILogger logger, string callback, string? reason);

    [LoggerMessage(9, LogLevel.Information, "Session closed: {Reason}")]
    public static partial void SessionClosed(ILogger logger, string reason);

    [LoggerMessage(10, LogLevel.Debug, "Connection lost")]
    public static partial void ConnectionLost(ILogger logger, Exception exception);

    [LoggerMessage(11, LogLevel.Warning, "Connection from {RemoteEndPoint} refused: {Reason}")]
    public static partial void ConnectionRefused(ILogger logger, EndPoint? remoteEndPoint, string reason);

    [LoggerMessage(12, LogLevel.Warning, "Accepting a connection failed")]
    public static partial void AcceptFailed(ILogger logger, Exception exception);

    [LoggerMessage(13, LogLevel.Information, "Message accepted: {Size} octets from <{Sender}> to {RecipientCount} recipient(s)")]
    public static partial void MessageAccepted(ILogger logger, long size, string sender, int recipientCount);

    [LoggerMessage(14, LogLevel.Error, "Session failed unexpectedly")]
    public static partial void SessionFailed(ILogger logger, Exception exception);

    [LoggerMessage(15, LogLevel.Warning, "Discarded {Count} octets of plaintext sent after STARTTLS (RFC 3207 4.2)")]
    public static partial void PlaintextAfterStartTlsDiscarded(ILogger logger, long count);

    [LoggerMessage(16, LogLevel.Information, "TLS handshake failed")]
    public static partial void TlsHandshakeFailed(ILogger logger, Exception exception);

    [LoggerMessage(17, LogLevel.Debug, "TLS established: {Protocol} {CipherSuite}, SNI {SniHostName}")]
    public static partial void TlsEstablished(ILogger logger, System.Security.Authentication.SslProtocols protocol, System.Net.Security.TlsCipherSuite cipherSuite, string? sniHostName);

    [LoggerMessage(18, LogLevel.Information, "Authenticated as {Identity} with {Mechanism}")]
    public static partial void Authenticated(ILogger logger, string identity, string mechanism);

    [LoggerMessage(19, LogLevel.Information, "Authentication failed for {Identity} with {Mechanism}")]
    public static partial void AuthenticationFailed(ILogger logger, string identity, string mechanism);

    [LoggerMessage(30, LogLevel.Debug, "Session started from {RemoteEndPoint} via proxy {ProxyEndPoint}")]
    public static partial void SessionStartedViaProxy(ILogger logger, IPEndPoint remoteEndPoint, IPEndPoint proxyEndPoint);

    [LoggerMessage(31, LogLevel.Warning, "PROXY protocol header from {ProxyEndPoint} refused, connection closed: {Reason}")]
    public static partial void ProxyHeaderRefused(ILogger logger, IPEndPoint proxyEndPoint, string reason);
}
