using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Smtpd.Bench.Soak;

/// <summary>
/// Mixed traffic against any SMTP server on 127.0.0.1: concurrent clients, plain and STARTTLS sessions, DATA and
/// BDAT, small, large and over-limit messages, random RSETs, and random disconnects in the middle of the content.
/// Every message answered 250 goes in the SENT ledger as the SHA-256 of the content the server should store.
/// </summary>
internal static class Driver
{
    private static long s_connections, s_tls, s_transactions, s_accepted, s_rejected, s_aborted, s_resets, s_doubts, s_bytes, s_errors;

    public static async Task<int> RunAsync(int port, TimeSpan duration, int clients, string sentPath, string doubtPath, int seed)
    {
        var endpoint = new IPEndPoint(IPAddress.Loopback, port);
        using var sent = new StreamWriter(sentPath, append: false) { AutoFlush = true };
        using var doubt = new StreamWriter(doubtPath, append: false) { AutoFlush = true };
        var gate = new Lock();
        var clock = Stopwatch.StartNew();
        var until = DateTime.UtcNow + duration;
        using var progress = new Timer(_ => Report(clock), null, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));

        await Task.WhenAll(Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
        {
            var random = new Random(seed * 1000 + client);
            var serial = 0;
            while (DateTime.UtcNow < until)
            {
                try
                {
                    await RunConnectionAsync(endpoint, random, client, () => serial++, (hash, size, certain) =>
                    {
                        lock (gate)
                        {
                            (certain ? sent : doubt).WriteLine($"{hash} {size}");
                        }
                    });
                }
                catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
                {
                    Interlocked.Increment(ref s_errors);
                    Console.Error.WriteLine($"client {client}: {ex.GetType().Name}: {ex.Message}");
                }
            }
        })));

        Report(clock);
        return 0;
    }

    private static void Report(Stopwatch clock) => Console.WriteLine(
        $"[{clock.Elapsed:hh\\:mm\\:ss}] connections {Interlocked.Read(ref s_connections)} (TLS {Interlocked.Read(ref s_tls)}), transactions {Interlocked.Read(ref s_transactions)}: "
        + $"accepted {Interlocked.Read(ref s_accepted)}, rejected {Interlocked.Read(ref s_rejected)}, aborted mid-content {Interlocked.Read(ref s_aborted)}, "
        + $"RSET {Interlocked.Read(ref s_resets)}, in doubt {Interlocked.Read(ref s_doubts)}, client errors {Interlocked.Read(ref s_errors)}; {Interlocked.Read(ref s_bytes) / (1024 * 1024)} MiB sent");

    private static async Task RunConnectionAsync(IPEndPoint endpoint, Random random, int client, Func<int> next, Action<string, long, bool> record)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var ct = timeout.Token;
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint, ct);
        Interlocked.Increment(ref s_connections);
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        var reader = new ReplyReader(stream);
        Expect(await reader.ReadAsync(ct), "220");
        await SendAsync(stream, $"EHLO client{client}.soak\r\n", ct);
        var ehlo = await reader.ReadAsync(ct);
        Expect(ehlo, "250");
        if (ehlo.Contains("STARTTLS", StringComparison.Ordinal) && random.Next(100) < 40)
        {
            await SendAsync(stream, "STARTTLS\r\n", ct);
            Expect(await reader.ReadAsync(ct), "220");
            // The soak host's throwaway self-signed certificate, on loopback: this exercises the server, not PKI.
#pragma warning disable CA5359
            var tls = new SslStream(stream, leaveInnerStreamOpen: false, (_, _, _, _) => true);
#pragma warning restore CA5359
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "soak.local" }, ct);
            stream = tls;
            reader = new ReplyReader(stream);
            Interlocked.Increment(ref s_tls);
            await SendAsync(stream, $"EHLO client{client}.soak\r\n", ct);
            Expect(await reader.ReadAsync(ct), "250");
        }

        var transactions = random.Next(1, 4);
        for (var t = 0; t < transactions; t++)
        {
            Interlocked.Increment(ref s_transactions);
            await SendAsync(stream, $"MAIL FROM:<client{client}@soak.example>\r\n", ct);
            Expect(await reader.ReadAsync(ct), "250");
            var recipients = random.Next(1, 4);
            for (var r = 0; r < recipients; r++)
            {
                await SendAsync(stream, $"RCPT TO:<r{r}@soak.example>\r\n", ct);
                Expect(await reader.ReadAsync(ct), "250");
            }

            if (random.Next(100) < 5)
            {
                // Change of mind: RSET, and the transaction leaves nothing behind.
                await SendAsync(stream, "RSET\r\n", ct);
                Expect(await reader.ReadAsync(ct), "250");
                Interlocked.Increment(ref s_resets);
                continue;
            }

            var content = Content(random, client, next());
            var hash = Convert.ToHexStringLower(SHA256.HashData(content));
            var abort = random.Next(100) < 5;
            var useBdat = random.Next(100) < 25;
            var wire = useBdat ? content : Stuff(content);
            if (!useBdat)
            {
                await SendAsync(stream, "DATA\r\n", ct);
                Expect(await reader.ReadAsync(ct), "354");
            }

            if (abort)
            {
                // Half the content, then a reset connection: the server must deliver nothing.
                var half = wire.Length / 2;
                if (useBdat)
                {
                    await SendAsync(stream, $"BDAT {wire.Length} LAST\r\n", ct);
                }

                await stream.WriteAsync(wire.AsMemory(0, half), ct);
                Interlocked.Add(ref s_bytes, half);
                socket.LingerState = new LingerOption(true, 0);
                Interlocked.Increment(ref s_aborted);
                return;
            }

            if (useBdat)
            {
                // One to three chunks, the last marked LAST.
                var chunks = random.Next(1, 4);
                var offset = 0;
                for (var c = 0; c < chunks; c++)
                {
                    var length = c == chunks - 1 ? wire.Length - offset : random.Next(0, wire.Length - offset + 1);
                    await SendAsync(stream, $"BDAT {length}{(c == chunks - 1 ? " LAST" : string.Empty)}\r\n", ct);
                    await stream.WriteAsync(wire.AsMemory(offset, length), ct);
                    offset += length;
                    if (c < chunks - 1)
                    {
                        var interim = await reader.ReadAsync(ct);
                        if (!interim.StartsWith("250", StringComparison.Ordinal))
                        {
                            // A chunk over the size limit ends the transaction (RFC 3030); the rest is refused.
                            Interlocked.Increment(ref s_rejected);
                            await SendAsync(stream, "RSET\r\n", ct);
                            Expect(await reader.ReadAsync(ct), "250");
                            goto nextTransaction;
                        }
                    }
                }
            }
            else
            {
                await stream.WriteAsync(wire, ct);
                await SendAsync(stream, ".\r\n", ct);
            }

            Interlocked.Add(ref s_bytes, wire.Length);
            string reply;
            try
            {
                reply = await reader.ReadAsync(ct);
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                // The whole message went out but its answer did not come back: it may or may not be delivered.
                Interlocked.Increment(ref s_doubts);
                record(hash, content.Length, false);
                throw;
            }

            if (reply.StartsWith("250", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref s_accepted);
                record(hash, content.Length, true);
            }
            else
            {
                Interlocked.Increment(ref s_rejected);
            }

        nextTransaction:;
        }

        if (random.Next(100) < 80)
        {
            await SendAsync(stream, "QUIT\r\n", ct);
            Expect(await reader.ReadAsync(ct), "221");
        }

        await stream.DisposeAsync();
    }

    /// <summary>A unique message: sizes mostly small, some up to 1 MiB, a few up to 8 MiB, and now and then one over the limit.</summary>
    private static byte[] Content(Random random, int client, int serial)
    {
        var roll = random.Next(1000);
        var size = roll switch
        {
            < 900 => random.Next(256, 16 * 1024),
            < 990 => random.Next(64 * 1024, 1024 * 1024),
            < 995 => random.Next(2 * 1024 * 1024, 8 * 1024 * 1024),
            _ => 17 * 1024 * 1024,
        };
        var builder = new StringBuilder(size + 200);
        builder.Append($"Message-ID: <{client}.{serial}.{random.NextInt64()}@soak.example>\r\nSubject: soak {client}/{serial}\r\n\r\n");
        const string alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:-";
        var line = new char[76];
        while (builder.Length < size)
        {
            for (var i = 0; i < line.Length; i++)
            {
                line[i] = alphabet[random.Next(alphabet.Length)];
            }

            // Some lines start with a dot, so DATA must stuff them and the server unstuff them.
            if (random.Next(20) == 0)
            {
                line[0] = '.';
            }

            builder.Append(line).Append("\r\n");
        }

        return Encoding.ASCII.GetBytes(builder.ToString());
    }

    /// <summary>RFC 5321 4.5.2: a line that starts with a dot gets one more.</summary>
    private static byte[] Stuff(byte[] content)
    {
        using var wire = new MemoryStream(content.Length + 1024);
        var lineStart = true;
        foreach (var octet in content)
        {
            if (lineStart && octet == '.')
            {
                wire.WriteByte((byte)'.');
            }

            wire.WriteByte(octet);
            lineStart = octet == '\n';
        }

        return wire.ToArray();
    }

    private static Task SendAsync(Stream stream, string text, CancellationToken ct) => stream.WriteAsync(Encoding.ASCII.GetBytes(text), ct).AsTask();

    private static void Expect(string reply, string code)
    {
        if (!reply.StartsWith(code, StringComparison.Ordinal))
        {
            throw new IOException($"expected {code}, got: {reply}");
        }
    }

    /// <summary>Reads whole SMTP replies (all lines of a multi-line reply).</summary>
    private sealed class ReplyReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[8192];
        private int _start;
        private int _end;

        public async Task<string> ReadAsync(CancellationToken ct)
        {
            var reply = new StringBuilder();
            while (true)
            {
                var line = await ReadLineAsync(ct);
                reply.Append(line).Append('\n');
                if (line.Length < 4 || line[3] != '-')
                {
                    return reply.ToString();
                }
            }
        }

        private async Task<string> ReadLineAsync(CancellationToken ct)
        {
            var line = new StringBuilder();
            while (true)
            {
                for (; _start < _end; _start++)
                {
                    if (_buffer[_start] == '\n')
                    {
                        _start++;
                        return line.ToString().TrimEnd('\r');
                    }

                    line.Append((char)_buffer[_start]);
                }

                _start = 0;
                _end = await stream.ReadAsync(_buffer, ct);
                if (_end == 0)
                {
                    throw new IOException("connection closed while reading a reply: " + line);
                }
            }
        }
    }
}
