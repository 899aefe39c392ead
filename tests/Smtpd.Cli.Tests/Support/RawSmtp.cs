using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Smtpd.Cli.Tests.Support;

/// <summary>A byte-exact SMTP client over a socket: sends exactly what it is given, reads whole replies.</summary>
public sealed class RawSmtp : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly StringBuilder _pending = new();
    private readonly byte[] _buffer = new byte[8192];

    private RawSmtp(Socket socket) => _socket = socket;

    /// <summary>Connects and returns the client with the greeting.</summary>
    public static async Task<(RawSmtp Client, string Greeting)> ConnectAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        var client = new RawSmtp(socket);
        return (client, await client.ReadReplyAsync());
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var sent = await _socket.SendAsync(bytes, SocketFlags.None);
            bytes = bytes[sent..];
        }
    }

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task<string> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    /// <summary>Reads one whole reply, its lines joined with "\n".</summary>
    public async Task<string> ReadReplyAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync(timeout.Token) ?? throw new IOException("Connection closed; got: " + string.Join("\n", lines));
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return string.Join("\n", lines);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }

        _socket.Dispose();
        await Task.CompletedTask;
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

            var read = await _socket.ReceiveAsync(_buffer, SocketFlags.None, cancellationToken);
            if (read == 0)
            {
                return null;
            }

            _pending.Append(Encoding.UTF8.GetString(_buffer, 0, read));
        }
    }
}
