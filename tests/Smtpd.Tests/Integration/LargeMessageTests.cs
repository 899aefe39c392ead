using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Smtpd.Tests.Integration;

/// <summary>
/// The large-message tests measure the managed heap, so nothing else may run beside them.
/// </summary>
[CollectionDefinition(nameof(LargeMessageSerialGroup), DisableParallelization = true)]
public sealed class LargeMessageSerialGroup;

/// <summary>
/// Messages far larger than memory should hold: streamed through the spool file to the callback with a bounded
/// heap, and messages over the size limit discarded and refused only after their end.
/// </summary>
[Collection(nameof(LargeMessageSerialGroup))]
public sealed class LargeMessageTests : IDisposable
{
    private const long MiB = 1024 * 1024;
    private const long HeapBound = 40 * MiB;
    private const string SizeExceeded552 = "552 5.3.4 Message size exceeds fixed maximum message size";

    private readonly string _spool = Directory.CreateTempSubdirectory("smtpd-large-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_spool, recursive: true);

    [Fact]
    public async Task AHundredMebibyteMessageIsStreamedToDeliverWithTheSameHashAndABoundedHeap()
    {
        const long size = 100 * MiB;
        var peak = new PeakHeap();
        long deliveredSize = -1;
        long spooledFileLength = -1;
        byte[]? deliveredHash = null;
        await using var server = TestServer.Start(o =>
        {
            o.MaxMessageSize = 200 * MiB;
            o.SpoolDirectory = _spool;
            o.Deliver = async (message, ct) =>
            {
                deliveredSize = message.Size;
                spooledFileLength = Directory.GetFiles(_spool).Select(f => new FileInfo(f).Length).Sum();
                await using var stream = message.OpenRead();
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[64 * 1024];
                long total = 0;
                int read;
                while ((read = await stream.ReadAsync(buffer, ct)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    if (total / (8 * MiB) != (total + read) / (8 * MiB))
                    {
                        peak.Sample();
                    }

                    total += read;
                }

                deliveredHash = hash.GetHashAndReset();
                return SmtpVerdict.Accept;
            };
        });
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync($"MAIL FROM:<big@example.com> SIZE={size}"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<bob@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        peak.StartFromBaseline();

        var sentHash = await SendContentAsync(client, size, stuff: true, peak);
        await client.SendAsync(".\r\n"u8.ToArray());

        Assert.Equal("250 2.0.0 Message accepted", await client.ReadReplyAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(size, deliveredSize);
        Assert.Equal(Convert.ToHexString(sentHash), Convert.ToHexString(deliveredHash!));
        // The content lay in the spool file, not in memory, and the file is gone once delivery is over.
        Assert.Equal(size, spooledFileLength);
        Assert.Empty(Directory.GetFiles(_spool));
        Assert.True(peak.Samples > 20, $"Only {peak.Samples} heap samples were taken.");
        Assert.True(peak.Growth < HeapBound, $"The managed heap grew by {peak.Growth / 1024} KiB for a {size / MiB} MiB message.");
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
    }

    [Fact]
    public async Task AHundredMebibyteBdatMessageInOneMebibyteChunksIsDeliveredWithTheSameHash()
    {
        const long size = 100 * MiB;
        const int chunk = (int)MiB;
        var peak = new PeakHeap();
        byte[]? deliveredHash = null;
        await using var server = TestServer.Start(o =>
        {
            o.MaxMessageSize = 200 * MiB;
            o.SpoolDirectory = _spool;
            o.Deliver = async (message, ct) =>
            {
                peak.Sample();
                await using var stream = message.OpenRead();
                deliveredHash = await SHA256.HashDataAsync(stream, ct);
                peak.Sample();
                return SmtpVerdict.Accept;
            };
        });
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<big@example.com> BODY=BINARYMIME"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<bob@example.com>"));
        peak.StartFromBaseline();

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[chunk];
        var random = new Random(7);
        for (long sent = 0; sent < size; sent += chunk)
        {
            random.NextBytes(buffer);
            hash.AppendData(buffer);
            var last = sent + chunk >= size;
            await client.SendAsync(Encoding.ASCII.GetBytes(last ? $"BDAT {chunk} LAST\r\n" : $"BDAT {chunk}\r\n"));
            await client.SendAsync(buffer);
            var reply = await client.ReadReplyAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(last ? "250 2.0.0 Message accepted" : $"250 2.0.0 {sent + chunk} octets received", reply);
            if (sent % (8 * MiB) == 0)
            {
                peak.Sample();
            }
        }

        Assert.Equal(Convert.ToHexString(hash.GetHashAndReset()), Convert.ToHexString(deliveredHash!));
        Assert.Empty(Directory.GetFiles(_spool));
        Assert.True(peak.Growth < HeapBound, $"The managed heap grew by {peak.Growth / 1024} KiB for a {size / MiB} MiB message.");
    }

    [Fact]
    public async Task AMessageOverMaxMessageSizeIsDiscardedAndGets552OnlyAfterTheEndOfData()
    {
        const long limit = 256 * 1024;
        var delivered = 0;
        await using var server = TestServer.Start(o =>
        {
            o.MaxMessageSize = limit;
            o.MessageMemoryThreshold = 4 * 1024;
            o.SpoolDirectory = _spool;
            o.Deliver = (_, _) =>
            {
                Interlocked.Increment(ref delivered);
                return ValueTask.FromResult(SmtpVerdict.Accept);
            };
        });
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));

        // Far more than the socket buffers hold, so most of it has reached the server when the send returns.
        await SendContentAsync(client, 32 * MiB, stuff: true, peak: null);

        // No reply yet: the error waits for the end of data (RFC 5321 4.5.3.1.10)...
        Assert.False(client.Socket.Poll(100_000, SelectMode.SelectRead));
        // ...and what went over the limit was not stored.
        var spooled = Directory.GetFiles(_spool).Select(f => new FileInfo(f).Length).ToArray();
        Assert.InRange(Assert.Single(spooled), 1, limit);

        await client.SendAsync(".\r\n"u8.ToArray());
        Assert.Equal(SizeExceeded552, await client.ReadReplyAsync());
        Assert.Equal(0, delivered);

        // The session carries on, and a message within the limit goes through.
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        Assert.Equal("250 2.0.0 Message accepted", await client.CommandAsync("Subject: small\r\n\r\nfits\r\n."));
        Assert.Equal(1, delivered);
        Assert.Empty(Directory.GetFiles(_spool));
    }

    [Fact]
    public async Task WithoutADeliveryCallbackContentIsCountedNotStoredAndTheSizeLimitStillHolds()
    {
        const long limit = 4 * MiB;
        await using var server = TestServer.Start(o =>
        {
            o.Deliver = null;
            o.MaxMessageSize = limit;
            o.MessageMemoryThreshold = 4 * 1024;
            o.SpoolDirectory = _spool;
        });
        await using var client = await server.ConnectAndEhloAsync();

        // A sink (like smtp-sink) never spools: with a callback this much content would be in a spool file by now.
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await SendContentAsync(client, 2 * MiB, stuff: true, peak: null);
        Assert.False(client.Socket.Poll(100_000, SelectMode.SelectRead));
        Assert.Empty(Directory.GetFiles(_spool));
        await client.SendAsync(".\r\n"u8.ToArray());
        Assert.Equal("250 2.0.0 Message accepted", await client.ReadReplyAsync());

        // Counting still enforces MaxMessageSize (RFC 5321 4.5.3.1.10).
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        await SendContentAsync(client, limit + 1000, stuff: true, peak: null);
        await client.SendAsync(".\r\n"u8.ToArray());
        Assert.Equal(SizeExceeded552, await client.ReadReplyAsync());
        Assert.Empty(Directory.GetFiles(_spool));
    }

    [Fact]
    public async Task AMessageExactlyAtMaxMessageSizeIsAccepted()
    {
        const long limit = 64 * 1024;
        await using var server = TestServer.Start(o => o.MaxMessageSize = limit);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync($"MAIL FROM:<a@example.com> SIZE={limit}"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<b@example.com>"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));
        var sentHash = await SendContentAsync(client, limit, stuff: true, peak: null);
        await client.SendAsync(".\r\n"u8.ToArray());
        Assert.Equal("250 2.0.0 Message accepted", await client.ReadReplyAsync());

        var received = Assert.Single(server.Messages);
        Assert.Equal(limit, received.Content.Length);
        Assert.Equal(sentHash, SHA256.HashData(received.Content));
    }

    [Fact]
    public async Task ADeclaredSizeOverTheLimitIsRefusedAtMail()
    {
        await using var server = TestServer.Start(o => o.MaxMessageSize = 1000);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal(SizeExceeded552, await client.CommandAsync("MAIL FROM:<a@example.com> SIZE=1001"));
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@example.com> SIZE=1000"));
    }

    [Fact]
    public async Task ABdatChunkOverTheLimitGets552AfterTheChunkAndEndsTheTransaction()
    {
        const int limit = 64 * 1024;
        await using var server = TestServer.Start(o => o.MaxMessageSize = limit);
        await using var client = await server.ConnectAndEhloAsync();
        Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@example.com>"));
        Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<b@example.com>"));
        var chunk = new byte[limit + 1];
        Array.Fill(chunk, (byte)'x');

        await client.SendAsync(Encoding.ASCII.GetBytes($"BDAT {chunk.Length}\r\n"));
        await client.SendAsync(chunk);
        Assert.Equal(SizeExceeded552, await client.ReadReplyAsync());

        // The transaction is over: a further chunk is read, dropped and refused, and nothing is delivered.
        await client.SendAsync("BDAT 4 LAST\r\nNOOP");
        Assert.StartsWith("503 5.5.1 ", await client.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
        Assert.Empty(server.Messages);
    }

    /// <summary>
    /// Sends <paramref name="size"/> octets of generated text lines (every 997th starting with a dot), dot-stuffed
    /// as DATA requires when <paramref name="stuff"/> is set, and returns the SHA-256 of the content as the server
    /// should store it. Only one 64 KiB buffer is ever held.
    /// </summary>
    private static async Task<byte[]> SendContentAsync(RawSmtpClient client, long size, bool stuff, PeakHeap? peak)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var wire = new byte[64 * 1024 + 200];
        var line = new byte[100];
        long produced = 0;
        long lineNumber = 0;
        long nextSample = 8 * MiB;
        while (produced < size)
        {
            var used = 0;
            while (used < 64 * 1024 && produced < size)
            {
                var length = NextLine(line, lineNumber++, size - produced);
                hash.AppendData(line, 0, length);
                produced += length;
                if (stuff && line[0] == (byte)'.')
                {
                    wire[used++] = (byte)'.';
                }

                line.AsSpan(0, length).CopyTo(wire.AsSpan(used));
                used += length;
            }

            await client.SendAsync(wire.AsMemory(0, used));
            if (peak is not null && produced >= nextSample)
            {
                peak.Sample();
                nextSample += 8 * MiB;
            }
        }

        return hash.GetHashAndReset();
    }

    /// <summary>Writes line number <paramref name="number"/>, CRLF included, never longer than <paramref name="remaining"/>.</summary>
    private static int NextLine(byte[] line, long number, long remaining)
    {
        const int full = 80;
        if (remaining < full + 2)
        {
            // The last line fills the size exactly: some letters (or none) and CRLF.
            var letters = (int)remaining - 2;
            line.AsSpan(0, letters).Fill((byte)'z');
            line[letters] = (byte)'\r';
            line[letters + 1] = (byte)'\n';
            return (int)remaining;
        }

        var text = number % 997 == 0
            ? $".{number:D12} a line that starts with a dot and must be stuffed on the wire"
            : $"{number:D12} the quick brown fox jumps over the lazy dog 0123456789";
        var written = Encoding.ASCII.GetBytes(text, line);
        line[written] = (byte)'\r';
        line[written + 1] = (byte)'\n';
        return written + 2;
    }

    /// <summary>The highest managed heap size seen after a full collection, relative to a baseline.</summary>
    private sealed class PeakHeap
    {
        private readonly Lock _gate = new();
        private long _baseline;
        private long _peak;

        public int Samples { get; private set; }

        public long Growth
        {
            get
            {
                lock (_gate)
                {
                    return _peak - _baseline;
                }
            }
        }

        public void StartFromBaseline()
        {
            var baseline = Collect();
            lock (_gate)
            {
                _baseline = baseline;
                _peak = baseline;
            }
        }

        public void Sample()
        {
            var size = Collect();
            lock (_gate)
            {
                _peak = Math.Max(_peak, size);
                Samples++;
            }
        }

        private static long Collect()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            return GC.GetTotalMemory(false);
        }
    }
}
