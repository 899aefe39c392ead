using System.Net;
using Microsoft.Extensions.Logging;

namespace Smtpd.Catcher.Pop3;

/// <summary>The POP3 server's log events, source-generated so a disabled level costs one check.</summary>
internal static partial class Pop3Log
{
    [LoggerMessage(101, LogLevel.Information, "POP3 server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, IPEndPoint endPoint);

    [LoggerMessage(102, LogLevel.Debug, "POP3 session from {RemoteEndPoint} started")]
    public static partial void SessionStarted(ILogger logger, EndPoint? remoteEndPoint);

    [LoggerMessage(103, LogLevel.Debug, "POP3 connection lost")]
    public static partial void ConnectionLost(ILogger logger, Exception exception);

    [LoggerMessage(104, LogLevel.Information, "POP3 TLS handshake failed")]
    public static partial void TlsHandshakeFailed(ILogger logger, Exception exception);

    [LoggerMessage(105, LogLevel.Warning, "POP3 connection refused: {Count} connections are open (MaxConnections)")]
    public static partial void TooManyConnections(ILogger logger, int count);

    [LoggerMessage(106, LogLevel.Error, "POP3 session failed")]
    public static partial void SessionFailed(ILogger logger, Exception exception);

    [LoggerMessage(107, LogLevel.Information, "POP3 user {User} logged in")]
    public static partial void LoggedIn(ILogger logger, string user);
}
