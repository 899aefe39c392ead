using System.Net;
using System.Security.Authentication;

namespace Smtpd.Testing;

/// <summary>What the test server knew about the connection a message came in on, taken when the message arrived.</summary>
public sealed class SmtpTestSession
{
    internal SmtpTestSession(SmtpSessionContext session)
    {
        Id = session.Id;
        Client = session.RemoteEndPoint;
        HeloName = session.HeloName;
        IsExtended = session.IsExtended;
        IsSecure = session.IsSecure;
        TlsProtocol = session.TlsProtocol;
        SniHostName = session.SniHostName;
        AuthenticatedIdentity = session.AuthenticatedIdentity;
        AuthenticationMechanism = session.AuthenticationMechanism;
    }

    /// <summary>The session identifier, as in the server's logs.</summary>
    public string Id { get; }

    /// <summary>The client's address and port.</summary>
    public IPEndPoint Client { get; }

    /// <summary>The name the client gave in HELO or EHLO.</summary>
    public string? HeloName { get; }

    /// <summary>Whether the client used EHLO rather than HELO.</summary>
    public bool IsExtended { get; }

    /// <summary>Whether the message came over TLS (STARTTLS or implicit TLS).</summary>
    public bool IsSecure { get; }

    /// <summary>The TLS version, or <see cref="SslProtocols.None"/>.</summary>
    public SslProtocols TlsProtocol { get; }

    /// <summary>The SNI host name the client asked for, if any.</summary>
    public string? SniHostName { get; }

    /// <summary>The user the client authenticated as with AUTH, or <see langword="null"/>.</summary>
    public string? AuthenticatedIdentity { get; }

    /// <summary>The SASL mechanism of that AUTH, such as <c>PLAIN</c>, or <see langword="null"/>.</summary>
    public string? AuthenticationMechanism { get; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Id} {Client} HELO={HeloName}{(IsSecure ? $" {TlsProtocol}" : string.Empty)}{(AuthenticatedIdentity is null ? string.Empty : $" user={AuthenticatedIdentity}")}";
}
