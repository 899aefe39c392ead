using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Tests.Support;

/// <summary>
/// A byte-exact SMTP client over a real socket, for transcript tests: it sends exactly the bytes given and
/// reads whole replies (every line of a multi-line reply).
/// </summary>
public sealed class RawSmtpClient : IAsyncDisposable
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly StringBuilder _pending = new();
    private Stream _stream;

    private RawSmtpClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
    }

    public Socket Socket => _socket;

    /// <summary>The TLS stream after <see cref="StartTlsAsync"/>, for its negotiated parameters.</summary>
    public System.Net.Security.SslStream? Tls => _stream as System.Net.Security.SslStream;

    /// <summary>Runs a TLS client handshake over the connection (after a 220 to STARTTLS, or at once for implicit TLS).</summary>
    public async Task StartTlsAsync(string targetHost = "localhost", System.Security.Cryptography.X509Certificates.X509Certificate2? clientCertificate = null)
    {
        var tls = new System.Net.Security.SslStream(_stream, leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            RemoteCertificateValidationCallback = static (_, _, _, _) => true,
            ClientCertificates = clientCertificate is null ? null : [clientCertificate],
        });
        _stream = tls;
    }

    public static async Task<RawSmtpClient> ConnectAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        return new RawSmtpClient(socket);
    }

    /// <summary>Connects and reads the greeting.</summary>
    public static async Task<(RawSmtpClient Client, string Greeting)> ConnectAndGreetAsync(IPEndPoint endpoint)
    {
        var client = await ConnectAsync(endpoint);
        return (client, await client.ReadReplyAsync());
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        var sent = 0;
        while (sent < bytes.Length)
        {
            var chunk = bytes[sent..];
            if (_stream is NetworkStream)
            {
                sent += await _socket.SendAsync(chunk, SocketFlags.None);
            }
            else
            {
                await _stream.WriteAsync(chunk);
                sent += chunk.Length;
            }
        }
    }

    /// <summary>Sends one line followed by CRLF and reads one whole reply.</summary>
    public async Task<string> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    /// <summary>Reads one whole reply (all its lines, joined with "\n", without the final line end).</summary>
    public async Task<string> ReadReplyAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
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

    /// <summary>Reads the given number of replies.</summary>
    public async Task<string[]> ReadRepliesAsync(int count)
    {
        var replies = new string[count];
        for (var i = 0; i < count; i++)
        {
            replies[i] = await ReadReplyAsync();
        }

        return replies;
    }

    /// <summary>Whether the server closed the connection (reads to the end, ignoring any data).</summary>
    public async Task<bool> IsClosedByServerAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            while (true)
            {
                if (_pending.Length > 0)
                {
                    _pending.Clear();
                }

                var read = await _stream.ReadAsync(_buffer, cts.Token);
                if (read == 0)
                {
                    return true;
                }
            }
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

    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var text = _pending.ToString();
            var end = text.IndexOf("\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                _pending.Remove(0, end + 2);
                return text[..end];
            }

            var read = await _stream.ReadAsync(_buffer, cancellationToken);
            if (read == 0)
            {
                return null;
            }

            _pending.Append(Encoding.UTF8.GetString(_buffer, 0, read));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
