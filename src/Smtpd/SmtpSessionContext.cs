using System.Collections.Concurrent;
using System.Net;

namespace Smtpd;

/// <summary>What every callback knows about the connection it serves.</summary>
public sealed class SmtpSessionContext
{
    private ConcurrentDictionary<string, object?>? _properties;

    internal SmtpSessionContext(string id, IPEndPoint remoteEndPoint, IPEndPoint localEndPoint)
    {
        Id = id;
        RemoteEndPoint = remoteEndPoint;
        LocalEndPoint = localEndPoint;
        ConnectedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>A short identifier, unique within the process, that also tags every log entry of the session.</summary>
    public string Id { get; }

    /// <summary>The client's address and port.</summary>
    public IPEndPoint RemoteEndPoint { get; }

    /// <summary>The server address and port the client connected to.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>When the connection was accepted.</summary>
    public DateTimeOffset ConnectedAt { get; }

    /// <summary>The name the client gave in its last successful HELO or EHLO, or <see langword="null"/> before one.</summary>
    public string? HeloName { get; internal set; }

    /// <summary>Whether the client used EHLO (and so may use service extensions).</summary>
    public bool IsExtended { get; internal set; }

    /// <summary>Whether the connection is encrypted with TLS.</summary>
    public bool IsSecure { get; internal set; }

    /// <summary>The identity the client authenticated as, or <see langword="null"/>.</summary>
    public string? AuthenticatedIdentity { get; internal set; }

    /// <summary>Free storage for the application, kept for the life of the session.</summary>
    public ConcurrentDictionary<string, object?> Properties => _properties ??= new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public override string ToString() => $"{Id} {RemoteEndPoint}";
}
