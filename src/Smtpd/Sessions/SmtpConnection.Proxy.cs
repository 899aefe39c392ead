using System.Buffers;
using Smtpd.Logging;
using Smtpd.Parsing;

namespace Smtpd.Sessions;

/// <summary>The HAProxy PROXY protocol header of a <see cref="SmtpListener.ProxyProtocol"/> listener.</summary>
internal sealed partial class SmtpConnection
{
    /// <summary>
    /// Octets that arrived with the PROXY header on an implicit-TLS listener (the start of the ClientHello): the
    /// handshake reads the socket, not the pipe, so it is given these first.
    /// </summary>
    private byte[]? _tlsPrefix;

    /// <summary>
    /// Reads the PROXY protocol header through the session's pipe, before anything else, and makes the client it
    /// names the session's <see cref="SmtpSessionContext.RemoteEndPoint"/>.
    /// </summary>
    /// <remarks>
    /// The whole header must arrive within <see cref="SmtpServerOptions.TlsHandshakeTimeout"/>: like a handshake it
    /// is connection set-up that the proxy sends at once (the specification suggests "a few seconds"), so the
    /// 5-minute command timeout would let a stalled connection hold a session for far too long. A bad, missing or
    /// late header closes the connection without a reply, as the specification asks ("abort the connection as soon
    /// as possible so that the sender gets a chance to notice the anomaly"): the peer is a broken or misconfigured
    /// proxy, or no proxy at all, and nothing shows that an SMTP client is behind it to read an SMTP reply.
    /// </remarks>
    /// <returns><see langword="false"/> when the session must end.</returns>
    private async ValueTask<bool> ReadProxyHeaderAsync()
    {
        var proxy = _context.RemoteEndPoint;
        var deadline = Deadline(_options.TlsHandshakeTimeout);
        while (true)
        {
            ArmDeadline(deadline);
            var result = await _input.ReadAsync();
            Volatile.Write(ref _deadline, 0);
            if (result.IsCanceled || _closeReason != CloseReason.None)
            {
                Log.ProxyHeaderRefused(_logger, proxy, _closeReason == CloseReason.Timeout ? "no complete header within TlsHandshakeTimeout" : "server shutting down");
                return false;
            }

            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var examined = buffer.End;
            ProxyHeaderStatus status;
            SmtpProxyHeader? header;
            ProxyHeaderError error;
            try
            {
                var reader = new SequenceReader<byte>(buffer);
                status = ProxyHeaderParser.TryParse(ref reader, out header, out error);
                if (status == ProxyHeaderStatus.Complete)
                {
                    // Only the header was examined: commands that came with it must be returned by the next read
                    // at once, not after more input arrives.
                    consumed = reader.Position;
                    examined = consumed;
                    if (_implicitTls && !reader.End)
                    {
                        // At most one read's worth: the pipe reads 16 KiB at a time.
                        _tlsPrefix = reader.UnreadSequence.ToArray();
                        consumed = buffer.End;
                        examined = consumed;
                    }
                }
            }
            finally
            {
                _input.AdvanceTo(consumed, examined);
            }

            switch (status)
            {
                case ProxyHeaderStatus.Complete:
                    return await AcceptProxyHeaderAsync(header!, proxy);
                case ProxyHeaderStatus.Invalid:
                    Log.ProxyHeaderRefused(_logger, proxy, error.ToString());
                    return false;
                case ProxyHeaderStatus.NeedMoreData when result.IsCompleted:
                    Log.ProxyHeaderRefused(_logger, proxy, buffer.IsEmpty ? "closed before sending a header" : "closed in the middle of the header");
                    return false;
            }
        }
    }

    /// <summary>
    /// Takes the header's addresses (<c>LOCAL</c> and <c>UNKNOWN</c> keep the socket's), then counts the real
    /// client against <see cref="SmtpServerOptions.MaxSessionsPerClient"/>, which the proxy's address must not be.
    /// </summary>
    private async ValueTask<bool> AcceptProxyHeaderAsync(SmtpProxyHeader header, System.Net.IPEndPoint proxy)
    {
        _context.ProxyHeader = header;
        _context.ProxyEndPoint = proxy;
        if (header is { Source: { } source, Destination: { } destination })
        {
            _context.RemoteEndPoint = Unmapped(source);
            _context.LocalEndPoint = Unmapped(destination);
        }

        Log.SessionStartedViaProxy(_logger, _context.RemoteEndPoint, proxy);
        if (_admitClient is null)
        {
            return true;
        }

        var client = _context.RemoteEndPoint.Address;
        if (!_admitClient(client, _options.MaxSessionsPerClient))
        {
            // The header was good, so the peer now relays an SMTP client: it gets the same 421 as a direct one.
            Log.ConnectionRefused(_logger, _context.RemoteEndPoint, "MaxSessionsPerClient reached");
            _protocol.Reply(SmtpReplies.TooManySessionsFromClient);
            await FlushAsync();
            return false;
        }

        CountedClient = client;
        return true;
    }
}
