using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Smtpd.Tests.Adversarial;

/// <summary>How the octets of an adversarial script are handed to the socket.</summary>
public enum Delivery
{
    /// <summary>One write: the server sees the script in as few reads as the kernel allows.</summary>
    Whole,

    /// <summary>One write per octet, with Nagle off, so every parser boundary is crossed.</summary>
    ByteByByte,
}

/// <summary>Everything the server sent back over one connection, up to its close.</summary>
public sealed record Transcript(byte[] Raw, bool ResetByServer)
{
    /// <summary>The reply lines, without their CRLF.</summary>
    public string[] Lines => Encoding.Latin1.GetString(Raw).Split("\r\n")[..^1];

    /// <summary>The replies: multi-line replies joined with "\n", as <see cref="RawSmtpClient.ReadReplyAsync"/> returns them.</summary>
    public string[] Replies
    {
        get
        {
            var replies = new List<string>();
            var current = new List<string>();
            foreach (var line in Lines)
            {
                current.Add(line);
                if (line.Length < 4 || line[3] != '-')
                {
                    replies.Add(string.Join("\n", current));
                    current.Clear();
                }
            }

            return [.. replies];
        }
    }
}

/// <summary>
/// Raw-socket helpers for the adversarial tests: exact octets in (written in Latin-1, so <c>"\0"</c> or <c>"\x80"</c>
/// is that one octet), everything the server says out, and the checks every reply stream must pass.
/// </summary>
public static partial class Wire
{
    /// <summary>The exact octets of <paramref name="text"/>: each char 0–255 is one octet.</summary>
    public static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    /// <summary>
    /// Connects, reads the greeting, sends <paramref name="script"/> the way <paramref name="delivery"/> says, and reads
    /// until the server closes the connection. The script must make the server close (QUIT, an error limit, ...).
    /// </summary>
    public static async Task<(string Greeting, Transcript Transcript)> RunAsync(IPEndPoint endpoint, byte[] script, Delivery delivery = Delivery.Whole, TimeSpan? timeout = null)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        var greeting = await ReadLineAsync(socket, timeout ?? TimeSpan.FromSeconds(10));
        var reading = ReadToEndAsync(socket, timeout ?? TimeSpan.FromSeconds(30));
        await SendAsync(socket, script, delivery);
        return (greeting, await reading);
    }

    /// <summary>Sends octets, one write or one write per octet; a server that has already closed is not an error.</summary>
    public static async Task SendAsync(Socket socket, ReadOnlyMemory<byte> script, Delivery delivery)
    {
        try
        {
            if (delivery == Delivery.Whole)
            {
                while (!script.IsEmpty)
                {
                    script = script[await socket.SendAsync(script, SocketFlags.None)..];
                }
            }
            else
            {
                for (var i = 0; i < script.Length; i++)
                {
                    await socket.SendAsync(script.Slice(i, 1), SocketFlags.None);
                }
            }
        }
        catch (SocketException)
        {
            // The server closed first (QUIT, 421): what it said before is still in our receive buffer.
        }
    }

    /// <summary>Reads everything until the server closes (or resets) the connection.</summary>
    public static async Task<Transcript> ReadToEndAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (read == 0)
                {
                    return new Transcript(received.ToArray(), ResetByServer: false);
                }

                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return new Transcript(received.ToArray(), ResetByServer: true);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The server did not close the connection within {timeout}; it said: {Encoding.Latin1.GetString(received.ToArray())}");
        }
    }

    /// <summary>Reads one line (a greeting), octet by octet so nothing after it is consumed.</summary>
    public static async Task<string> ReadLineAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var line = new List<byte>();
        var one = new byte[1];
        while (!(line.Count >= 2 && line[^2] == '\r' && line[^1] == '\n'))
        {
            if (await socket.ReceiveAsync(one, SocketFlags.None, cts.Token) == 0)
            {
                throw new IOException("The server closed before sending a whole line; got: " + Encoding.Latin1.GetString([.. line]));
            }

            line.Add(one[0]);
        }

        return Encoding.Latin1.GetString([.. line])[..^2];
    }

    /// <summary>
    /// The invariants of every reply stream: each line is a three-digit code, a space or hyphen, printable ASCII, and
    /// CRLF; no bare CR or LF; a multi-line reply keeps its code; nothing trails the last CRLF (unless the server reset).
    /// </summary>
    /// <param name="transcript">The replies.</param>
    /// <param name="mayCarryUtf8">Lines (by their Latin-1 text) allowed to hold octets of 0x80 and above.</param>
    public static void AssertWellFormed(Transcript transcript, Func<string, bool>? mayCarryUtf8 = null)
    {
        var raw = transcript.Raw;
        var lineStart = 0;
        for (var i = 0; i < raw.Length; i++)
        {
            if (i > 0 && raw[i - 1] == '\n')
            {
                lineStart = i;
            }

            if (raw[i] == '\n')
            {
                Assert.True(i > 0 && raw[i - 1] == '\r', $"Bare LF at offset {i} of the replies.");
            }
            else if (raw[i] == '\r')
            {
                Assert.True(i + 1 < raw.Length && raw[i + 1] == '\n', $"Bare CR at offset {i} of the replies.");
            }
            else if (raw[i] >= 0x80 && mayCarryUtf8 is not null)
            {
                var end = Array.IndexOf(raw, (byte)'\r', i);
                var line = Encoding.Latin1.GetString(raw, lineStart, (end < 0 ? raw.Length : end) - lineStart);
                Assert.True(mayCarryUtf8(line), $"Octet 0x{raw[i]:x2} at offset {i} of the replies, in: {line}");
            }
            else
            {
                Assert.True(raw[i] is >= 0x20 and < 0x7f, $"Octet 0x{raw[i]:x2} at offset {i} of the replies is not printable ASCII.");
            }
        }

        Assert.True(raw.Length == 0 || (raw[^1] == '\n'), "The replies end in the middle of a line.");
        string? multiLineCode = null;
        foreach (var line in transcript.Lines)
        {
            Assert.Matches(ReplyLine(), line);
            if (multiLineCode is not null)
            {
                Assert.Equal(multiLineCode, line[..3]);
            }

            multiLineCode = line.Length > 3 && line[3] == '-' ? line[..3] : null;
        }

        Assert.Null(multiLineCode);
    }

    [GeneratedRegex(@"^[2-5]\d\d([ -].*)?$")]
    public static partial Regex ReplyLine();

    /// <summary>Starts a test server that also records every sender its MAIL commands got as far as validation.</summary>
    public static TestServer StartRecordingSenders(ConcurrentQueue<string> senders, Action<SmtpServerOptions>? configure = null) =>
        TestServer.Start(o =>
        {
            o.ValidateSender = (_, sender, _) =>
            {
                senders.Enqueue(sender?.Address ?? "<>");
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
            configure?.Invoke(o);
        });
}
