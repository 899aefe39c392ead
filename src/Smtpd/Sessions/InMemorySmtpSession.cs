using System.Buffers;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Smtpd.Sessions;

/// <summary>
/// Drives an <see cref="SmtpProtocol"/> from memory, with no socket and no TLS: what a client sends goes in as
/// bytes, in whatever pieces the caller chooses, and the replies collect in a buffer. The transcript tests and the
/// session fuzz target run sessions this way, thousands of times faster than over loopback. Not thread-safe: one
/// caller feeds it, as one connection would.
/// </summary>
internal sealed class InMemorySmtpSession : IDisposable
{
    private readonly SmtpServerOptions _options;
    private readonly SmtpProtocol _protocol;
    private readonly SmtpCallbackInvoker _callbacks;
    private readonly ArrayBufferWriter<byte> _replies = new();
    private byte[] _pending = new byte[4096];
    private int _pendingLength;

    /// <param name="options">The options the session runs with.</param>
    /// <param name="lmtp">Whether it speaks LMTP (RFC 2033) instead of SMTP.</param>
    /// <param name="logger">Where it logs; <see langword="null"/> for nowhere.</param>
    /// <param name="time">Its clock; <see langword="null"/> for the system's.</param>
    /// <param name="remoteEndPoint">The client callbacks see; 192.0.2.1:1025 (RFC 5737) if <see langword="null"/>.</param>
    public InMemorySmtpSession(SmtpServerOptions options, bool lmtp, ILogger? logger, TimeProvider? time, IPEndPoint? remoteEndPoint)
    {
        logger ??= NullLogger.Instance;
        Context = new SmtpSessionContext(
            "memory",
            remoteEndPoint ?? new IPEndPoint(IPAddress.Parse("192.0.2.1"), 1025),
            new IPEndPoint(IPAddress.Parse("192.0.2.25"), 25))
        {
            IsLmtp = lmtp,
        };
        _options = options;
        _callbacks = new SmtpCallbackInvoker(logger);
        _protocol = new SmtpProtocol(options, logger, Context, lmtp, time ?? TimeProvider.System, _callbacks, _replies);
    }

    /// <summary>What callbacks see of the session.</summary>
    public SmtpSessionContext Context { get; }

    /// <summary>Whether the protocol has closed the session (QUIT, 421, an error limit, a callback's Disconnect).</summary>
    public bool IsClosed { get; private set; }

    /// <summary>Whether STARTTLS was accepted: in memory there is no TLS, so the session stops there.</summary>
    public bool StartTlsRequested => _protocol.StartTlsRequested;

    /// <summary>Writes the greeting.</summary>
    public async ValueTask StartAsync()
    {
        await _protocol.GreetAsync();
        IsClosed = _protocol.CloseRequested;
    }

    /// <summary>Feeds what the client sent next; ignored once the session is closed or waits for TLS.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> input)
    {
        if (IsClosed || StartTlsRequested)
        {
            return;
        }

        if (_pending.Length - _pendingLength < input.Length)
        {
            Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + input.Length));
        }

        input.Span.CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += input.Length;
        var buffer = new ReadOnlySequence<byte>(_pending, 0, _pendingLength);
        ProtocolInput processed;
        try
        {
            processed = await MessageDelivery.ProcessAsync(_protocol, buffer, _options, _callbacks);
        }
        catch (SmtpDisconnectRequestedException)
        {
            IsClosed = true;
            return;
        }

        // What was not consumed (a partial line, the rest of a chunk's header) waits for the next piece.
        var consumed = (int)buffer.Slice(0, processed.Consumed).Length;
        _pending.AsSpan(consumed, _pendingLength - consumed).CopyTo(_pending);
        _pendingLength -= consumed;
        _protocol.RepliesSent();
        IsClosed = processed.Close || _protocol.DrainCloseDue;
    }

    /// <summary>The replies written since the last call, as Latin-1 text (each octet one character).</summary>
    public string TakeReplies()
    {
        var text = System.Text.Encoding.Latin1.GetString(_replies.WrittenSpan);
        _replies.Clear();
        return text;
    }

    /// <summary>The replies written since the last call, as octets.</summary>
    public byte[] TakeReplyBytes()
    {
        var bytes = _replies.WrittenSpan.ToArray();
        _replies.Clear();
        return bytes;
    }

    /// <summary>Drops the replies written so far without copying them (for allocation counts).</summary>
    public void DiscardReplies() => _replies.Clear();

    public void Dispose()
    {
        _protocol.Dispose();
        _callbacks.Dispose();
    }
}
