using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Smtpd.Catcher.Pop3;

/// <summary>
/// The transport of one POP3 session: the socket, STLS, reads, writes and the inactivity timer. It drives an I/O-free
/// <see cref="Pop3Session"/> in the System.IO.Pipelines order: <c>ReadAsync</c>, split lines with a
/// <see cref="SequenceReader{T}"/> capped at the line limit, <c>AdvanceTo(consumed, examined)</c> in a <c>finally</c>,
/// and only then <c>IsCompleted</c>. Responses to a pipelined batch (RFC 2449 section 6.6) go out in one flush.
/// The inactivity timer reads <see cref="Pop3Options.TimeProvider"/>; a timeout or a server stop ends the session
/// without the UPDATE state, so nothing is deleted.
/// </summary>
internal sealed class Pop3Connection : IAsyncDisposable
{
    private const int ContentChunkSize = 16 * 1024;

    // Flush a message in progress at this many unflushed octets, so a 10 MiB message is never buffered whole.
    private const int FlushThreshold = 64 * 1024;

    private static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: 4 * 1024, minimumReadSize: 1024, leaveOpen: true, useZeroByteReads: true);
    private static readonly StreamPipeWriterOptions WriterOptions = new(minimumBufferSize: 4 * 1024, leaveOpen: true);

    private readonly Socket _socket;
    private readonly NetworkStream _network;
    private readonly Pop3Options _options;
    private readonly X509Certificate2? _certificate;
    private readonly ILogger _logger;
    private readonly Pop3Session _session;
    private readonly Pop3Protocol _protocol;
    private readonly CancellationTokenSource _timer;
    private readonly CancellationTokenSource _cancel;
    private readonly CancellationToken _shutdown;
    private Stream _transport;
    private PipeReader _input;
    private PipeWriter _output;

    // A flush is in progress: only then does an interruption cancel it (a cancel with no flush pending would
    // cancel the next one, the goodbye).
    private volatile bool _flushing;

    // A message is being streamed: a timeout or shutdown now cannot add a response line into its middle.
    private bool _sending;

    /// <param name="socket">The accepted connection.</param>
    /// <param name="options">The POP3 options.</param>
    /// <param name="settings">The session's settings.</param>
    /// <param name="maildrops">Where logins find their maildrops.</param>
    /// <param name="certificate">The certificate STLS uses, or <see langword="null"/> when STLS is not offered.</param>
    /// <param name="logger">Where the session logs.</param>
    /// <param name="shutdown">Cancelled when the server stops.</param>
    public Pop3Connection(Socket socket, Pop3Options options, Pop3SessionSettings settings, IPop3MaildropSource maildrops, X509Certificate2? certificate, ILogger logger, CancellationToken shutdown)
    {
        _socket = socket;
        _options = options;
        _certificate = certificate;
        _logger = logger;
        _shutdown = shutdown;
        _network = new NetworkStream(socket, ownsSocket: true);
        _transport = _network;
        (_input, _output) = CreatePipes(_network);
        _session = new Pop3Session(settings, maildrops);
        _protocol = new Pop3Protocol(_session, options.MaxLineLength);
        // One timer for the connection's life, re-armed before each read and write (RFC 1939 section 3 autologout).
        _timer = new CancellationTokenSource(Timeout.InfiniteTimeSpan, options.TimeProvider);
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(shutdown, _timer.Token);

        // The pending read or flush is woken through the pipes, not by cancelling the socket operation under them,
        // so the connection is still there to say why it closes (the core's SmtpConnection does the same).
        _cancel.Token.Register(Interrupt);
    }

    private CancellationToken Token => _cancel.Token;

    /// <summary>Runs the session to its end. Never throws.</summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async Task RunAsync()
    {
        Pop3Log.SessionStarted(_logger, _socket.RemoteEndPoint);
        try
        {
            Pop3Session.Greet(_output);
            await FlushAsync();
            await ProcessInputAsync();
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested)
        {
            await SayGoodbyeAsync();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or AuthenticationException)
        {
            Pop3Log.ConnectionLost(_logger, ex);
        }
        catch (Exception ex)
        {
            Pop3Log.SessionFailed(_logger, ex);
        }
        finally
        {
            await DisposeAsync();
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        _session.Dispose();
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        // The transport goes first: every response that matters has been flushed, and completing a writer that still
        // holds octets for a client that does not read would wait for that client.
        await QuietlyAsync(_transport.DisposeAsync());
        await QuietlyAsync(_network.DisposeAsync());
        await QuietlyAsync(_input.CompleteAsync());
        await QuietlyAsync(_output.CompleteAsync());
        _cancel.Dispose();
        _timer.Dispose();
    }

    private static async ValueTask QuietlyAsync(ValueTask completion)
    {
        try
        {
            await completion;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The connection is already gone: there is nothing left to flush to.
        }
    }

    private static (PipeReader Input, PipeWriter Output) CreatePipes(Stream transport) =>
        (PipeReader.Create(transport, ReaderOptions), PipeWriter.Create(transport, WriterOptions));

    private async Task ProcessInputAsync()
    {
        while (true)
        {
            // The deadline of this read was fixed when the last responses were flushed (FlushAsync), before the client
            // could see them: a client (or a test on a fake clock) that has read them can count on it.
            var result = await _input.ReadAsync();
            if (result.IsCanceled || _cancel.IsCancellationRequested)
            {
                _input.AdvanceTo(result.Buffer.Start);
                await SayGoodbyeAsync();
                return;
            }

            var buffer = result.Buffer;
            var consumed = buffer.Start;
            var step = Pop3Step.Continue;
            try
            {
                while (step is Pop3Step.Continue or Pop3Step.SendMessage && _protocol.TryProcessLine(buffer, ref consumed, _output, out step))
                {
                    if (step == Pop3Step.SendMessage)
                    {
                        await SendMessageAsync(_session.TakeTransfer());
                    }
                }

                // The input is drained (or the session is closing): the batch's responses go out in one write.
                await FlushAsync();
            }
            finally
            {
                _input.AdvanceTo(consumed, buffer.End);
            }

            if (step == Pop3Step.Close)
            {
                return;
            }

            if (step == Pop3Step.StartTls)
            {
                // Whatever the client sent after STLS is discarded with the plaintext pipe, so it cannot be taken
                // for a command sent under TLS (RFC 2595 section 4; the STARTTLS injection of CVE-2011-0411).
                await UpgradeToTlsAsync();
                continue;
            }

            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>Streams a message in chunks from the store: it is never held whole in memory.</summary>
    private async Task SendMessageAsync(Pop3Transfer transfer)
    {
        var encoder = new Pop3MessageEncoder(transfer.BodyLines);
        var chunk = ArrayPool<byte>.Shared.Rent(ContentChunkSize);
        _sending = true;
        try
        {
            await using var content = transfer.Content;
            while (!encoder.IsDone)
            {
                var read = await content.ReadAsync(chunk.AsMemory(0, ContentChunkSize));
                if (read == 0)
                {
                    break;
                }

                encoder.Write(chunk.AsSpan(0, read), _output);
                if (_output.UnflushedBytes >= FlushThreshold)
                {
                    await FlushAsync();
                }
            }

            encoder.Complete(_output);
            _sending = false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    private async ValueTask FlushAsync()
    {
        // One deadline for the flush and the next command (RFC 1939 section 3 autologout): a client that does not
        // read its responses is timed out like one that does not write, and octets that trickle in without a
        // whole line do not extend it.
        _timer.CancelAfter(_options.CommandTimeout);
        _flushing = true;
        FlushResult flushed;
        try
        {
            flushed = await _output.FlushAsync();
        }
        finally
        {
            _flushing = false;
        }

        if (flushed.IsCanceled || _cancel.IsCancellationRequested)
        {
            throw new OperationCanceledException(Token);
        }
    }

    private void Interrupt()
    {
        try
        {
            _input.CancelPendingRead();
            if (_flushing)
            {
                _output.CancelPendingFlush();
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
        {
            // The session ended, or swapped its pipes for TLS, while it was being interrupted: nothing is left to wake.
        }
    }

    private async Task UpgradeToTlsAsync()
    {
        await _input.CompleteAsync();
        await _output.CompleteAsync();
        var tls = new SslStream(_network, leaveInnerStreamOpen: true);
        _transport = tls;
        using var handshake = new CancellationTokenSource(_options.TlsHandshakeTimeout, _options.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(handshake.Token, _shutdown);
        try
        {
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = _certificate,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, linked.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException)
        {
            Pop3Log.TlsHandshakeFailed(_logger, ex);
            throw new AuthenticationException("The TLS handshake after STLS failed.", ex);
        }

        (_input, _output) = CreatePipes(tls);
        _session.TlsEstablished();

        // The client speaks first after the handshake: its command gets a fresh deadline.
        _timer.CancelAfter(_options.CommandTimeout);
    }

    /// <summary>
    /// The inactivity timer ran out or the server is stopping: the session ends without the UPDATE state, so nothing
    /// is deleted (RFC 1939 section 3), with a last line the client can log.
    /// </summary>
    private async Task SayGoodbyeAsync()
    {
        if (_sending)
        {
            return;
        }

        try
        {
            Pop3Replies.Err(_output, _shutdown.IsCancellationRequested ? "[SYS/TEMP] the server is shutting down" : "autologout: idle for too long");
            // A safety bound on the real clock, not a protocol timeout: a client that does not read gets no goodbye.
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            if ((await _output.FlushAsync(bound.Token)).IsCanceled)
            {
                // The interruption cancelled a flush that had just ended: this one went nowhere, so try once more.
                await _output.FlushAsync(bound.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The client is gone or not reading; it gets no goodbye.
        }
    }
}
