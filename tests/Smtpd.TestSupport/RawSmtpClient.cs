using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Smtpd.TestSupport;

/// <summary>
/// A byte-exact SMTP (or LMTP) client over a real socket, for tests that no client library may rewrite: it sends
/// exactly the octets given and reads whole replies (every line of a multi-line reply, joined with "\n").
/// </summary>
/// <remarks>
/// Every read has <see cref="ReplyTimeout"/> as a failure bound, so a server that never answers fails the test
/// instead of hanging it; no test waits for that bound to pass.
/// </remarks>
public sealed class RawSmtpClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];

    // Octets read but not yet returned as a line: a reply may arrive in pieces, or several in one read.
    private readonly MemoryStream _pending = new();
    private Stream _stream;

    private RawSmtpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
    }

    /// <summary>How long a read waits before it fails the test: a generous bound, for slow CI machines.</summary>
    public static TimeSpan ReplyTimeout { get; } = TimeSpan.FromSeconds(30);

    /// <summary>The connected socket, for tests that shut down one direction or read socket options.</summary>
    public Socket Socket => _socket;

    /// <summary>The TLS stream after <see cref="StartTlsAsync"/>, for its negotiated parameters.</summary>
    public SslStream? Tls => _stream as SslStream;

    /// <summary>Connects without reading anything (for implicit TLS, or a PROXY header before the greeting).</summary>
    public static async Task<RawSmtpClient> ConnectAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new RawSmtpClient(socket);
    }

    /// <summary>Connects and reads the greeting.</summary>
    public static async Task<(RawSmtpClient Client, string Greeting)> ConnectAndGreetAsync(IPEndPoint endpoint)
    {
        var client = await ConnectAsync(endpoint);
        return (client, await client.ReadReplyAsync());
    }

    /// <summary>Runs a TLS client handshake over the connection (after a 220 to STARTTLS, or at once for implicit TLS).</summary>
    public async Task StartTlsAsync(string targetHost = "localhost", X509Certificate2? clientCertificate = null)
    {
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            RemoteCertificateValidationCallback = static (_, _, _, _) => true,
            ClientCertificates = clientCertificate is null ? null : [clientCertificate],
        });
        _stream = tls;
    }

    /// <summary>Sends the UTF-8 octets of <paramref name="text"/>, exactly (no line end is added).</summary>
    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>Sends exactly these octets.</summary>
    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        if (_stream is NetworkStream)
        {
            // Straight to the socket: a partial send is visible here, not hidden in a stream.
            while (!bytes.IsEmpty)
            {
                bytes = bytes[await _socket.SendAsync(bytes, SocketFlags.None)..];
            }
        }
        else
        {
            await _stream.WriteAsync(bytes);
        }
    }

    /// <summary>Sends one line followed by CRLF and reads one whole reply.</summary>
    public async Task<string> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    /// <summary>Reads one whole reply (all its lines, joined with "\n", without the final line end).</summary>
    /// <exception cref="IOException">The server closed the connection first.</exception>
    public async Task<string> ReadReplyAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? ReplyTimeout);
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync(cts.Token) ?? throw new IOException($"Connection closed while reading a reply; got so far: {string.Join("\n", lines)}");
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return string.Join("\n", lines);
            }
        }
    }

    /// <summary>Reads the given number of replies (LMTP's one per recipient, or a pipelined group).</summary>
    public async Task<string[]> ReadRepliesAsync(int count)
    {
        var replies = new string[count];
        for (var i = 0; i < count; i++)
        {
            replies[i] = await ReadReplyAsync();
        }

        return replies;
    }

    /// <summary>
    /// Whether the server closed the connection: reads to the end, ignoring any data. <see langword="false"/> when it
    /// is still open after <paramref name="timeout"/>.
    /// </summary>
    public async Task<bool> IsClosedByServerAsync(TimeSpan? timeout = null)
    {
        _pending.SetLength(0);
        using var cts = new CancellationTokenSource(timeout ?? ReplyTimeout);
        try
        {
            while (await _stream.ReadAsync(_buffer, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
        await _pending.DisposeAsync();
    }

    /// <summary>The next line without its CRLF, decoded as UTF-8 only once it is whole; null at the end of the stream.</summary>
    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var pending = _pending.GetBuffer().AsSpan(0, (int)_pending.Length);
            var end = pending.IndexOf("\r\n"u8);
            if (end >= 0)
            {
                var line = Encoding.UTF8.GetString(pending[..end]);
                var rest = pending[(end + 2)..].ToArray();
                _pending.SetLength(0);
                _pending.Write(rest);
                return line;
            }

            var read = await _stream.ReadAsync(_buffer, cancellationToken);
            if (read == 0)
            {
                return null;
            }

            _pending.Write(_buffer, 0, read);
        }
    }
}
