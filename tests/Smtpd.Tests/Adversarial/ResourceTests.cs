using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Smtpd.Tests.Adversarial;

/// <summary>
/// The tests that measure the heap or hold thousands of sockets must not share the process with other tests.
/// </summary>
[CollectionDefinition(nameof(ResourceSerialGroup), DisableParallelization = true)]
public sealed class ResourceSerialGroup;

/// <summary>
/// Resource exhaustion: connection floods against <c>MaxSessions</c> and <c>MaxSessionsPerClient</c>, a client that
/// pipelines without reading, a line that never ends, and a body far over the size limit, each with a flat heap.
/// </summary>
[Collection(nameof(ResourceSerialGroup))]
public sealed class ResourceTests
{
    private const long MiB = 1024 * 1024;

    /// <summary>
    /// The size of the over-limit body: 1 GiB, as issue 7 asks (about 4 s on the 2-core reference machine; figures in
    /// docs/hardening.md). <c>SMTPD_HARDENING_BIG_BODY_BYTES</c> overrides it, for a slower machine or a larger run.
    /// </summary>
    private static long BigBodyBytes =>
        long.TryParse(Environment.GetEnvironmentVariable("SMTPD_HARDENING_BIG_BODY_BYTES"), out var bytes) && bytes > 0 ? bytes : 1024 * MiB;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FiveThousandConcurrentConnectionsAreAllGreetedOrRefusedWith421ByMaxSessions()
    {
        const int connections = 5000;
        const int limit = 4000;
        FileDescriptors.EnsureAtLeast((2 * connections) + 1000);
        await using var server = TestServer.Start(o =>
        {
            o.MaxSessions = limit;
            o.MaxSessionsPerClient = connections;
        });
        var heapBefore = Heap();
        var sockets = new Socket[connections];
        var first = new string[connections];
        var clock = Stopwatch.StartNew();
        try
        {
            using var gate = new SemaphoreSlim(200);
            await Task.WhenAll(Enumerable.Range(0, connections).Select(async i =>
            {
                await gate.WaitAsync(Ct);
                try
                {
                    sockets[i] = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await sockets[i].ConnectAsync(server.EndPoint, Ct);
                    first[i] = await Wire.ReadLineAsync(sockets[i], TimeSpan.FromSeconds(30));
                }
                finally
                {
                    gate.Release();
                }
            }));

            var greeted = first.Count(l => l.StartsWith("220 test.local ", StringComparison.Ordinal));
            var refused = first.Count(l => l == "421 Too many connections, try again later");
            Assert.Equal(connections, greeted + refused);
            Assert.Equal(limit, greeted);
            Assert.Equal(limit, server.Server.SessionCount);
            var heapGrowth = Heap() - heapBefore;
            TestContext.Current.SendDiagnosticMessage($"{connections} connections in {clock.ElapsedMilliseconds} ms; {limit} idle sessions grew the heap by {heapGrowth / 1024} KiB");
            Assert.True(heapGrowth < limit * 16L * 1024, $"{limit} idle sessions grew the heap by {heapGrowth / 1024} KiB.");

            // The greeted sessions all work; the refused ones were closed.
            foreach (var i in Enumerable.Range(0, connections).Where(i => i % 97 == 0))
            {
                if (first[i].StartsWith("220", StringComparison.Ordinal))
                {
                    await Wire.SendAsync(sockets[i], Wire.Bytes("NOOP\r\n"), Delivery.Whole);
                    Assert.Equal("250 OK", await Wire.ReadLineAsync(sockets[i], TimeSpan.FromSeconds(10)));
                }
                else
                {
                    Assert.Empty((await Wire.ReadToEndAsync(sockets[i], TimeSpan.FromSeconds(10))).Raw);
                }
            }
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket?.Dispose();
            }
        }

        await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 0, "every session ended");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"The flood took {clock.Elapsed}.");
    }

    [Fact]
    public async Task ThePerClientCapCountsEachSourceAddressSeparately()
    {
        await using var server = TestServer.Start(o => o.MaxSessionsPerClient = 3);
        var open = new List<Socket>();
        try
        {
            async Task<string> ConnectFromAsync(string source)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                open.Add(socket);
                socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
                await socket.ConnectAsync(server.EndPoint, Ct);
                return await Wire.ReadLineAsync(socket, TimeSpan.FromSeconds(10));
            }

            foreach (var source in new[] { "127.0.0.2", "127.0.0.3" })
            {
                for (var i = 0; i < 3; i++)
                {
                    Assert.StartsWith("220 ", await ConnectFromAsync(source), StringComparison.Ordinal);
                }
            }

            Assert.Equal("421 Too many connections from your address, try again later", await ConnectFromAsync("127.0.0.2"));
            Assert.Equal("421 Too many connections from your address, try again later", await ConnectFromAsync("127.0.0.3"));
            Assert.StartsWith("220 ", await ConnectFromAsync("127.0.0.4"), StringComparison.Ordinal);
            Assert.Equal(7, server.Server.SessionCount);

            // A slot freed by one address is that address's again.
            open[0].Dispose();
            await Eventually.WaitUntilAsync(() => server.Server.SessionCount == 6, "the closed session ended");
            Assert.StartsWith("220 ", await ConnectFromAsync("127.0.0.2"), StringComparison.Ordinal);
        }
        finally
        {
            open.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task AClientThatPipelinesAHundredThousandCommandsAndNeverReadsHoldsABoundedHeapAndOthersAreStillServed()
    {
        // No capturing logger here: it would keep the Trace transcript of all 100k commands on the heap being measured.
        var time = new TestClock();

        // Not the junk limit either: the session must stay open, stalled, for the heap to be measured meanwhile.
        await using var test = TestServer.StartWithClock(time, o => o.MaxJunkCommands = int.MaxValue);
        var server = test.Server;
        var heapBefore = Heap();

        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 16 * 1024 })
        {
            await socket.ConnectAsync(server.Endpoints[0], Ct);
            // HELP has the longest fixed reply (about 85 octets): 100k replies are far more than any socket buffers hold.
            var script = Encoding.ASCII.GetBytes("EHLO client.test\r\n" + string.Concat(Enumerable.Repeat("HELP\r\nNOOP\r\nRSET\r\n", 33_334)));
            var sending = Wire.SendAsync(socket, script, Delivery.Whole);

            // No deadlock: another client is served in full while this one does not read.
            var (_, transcript) = await Wire.RunAsync(server.Endpoints[0], Wire.Bytes("EHLO other.test\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@b.example>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n"));
            Assert.Equal("250 2.0.0 Message accepted", transcript.Replies[^2]);

            // The clock has not moved, so the session that does not read is still open: its heap must not hold the
            // backlog of replies it cannot send.
            Assert.True(server.SessionCount >= 1, "The session that does not read ended before its timeout.");
            var heapWhileStalled = Heap() - heapBefore;
            TestContext.Current.SendDiagnosticMessage($"stalled session: heap +{heapWhileStalled / 1024} KiB");
            Assert.True(heapWhileStalled < 8 * MiB, $"The heap grew by {heapWhileStalled / 1024} KiB while the client did not read.");

            // Past the command timeout (advanced, not waited for) the server gives up on this client and ends its session.
            await time.AdvanceUntilAsync(server.Options.CommandTimeout, () => server.SessionCount == 0, "the stalled session ended");
            await sending;
        }
    }

    [Fact]
    public async Task SixtyFourMebibytesWithoutALineFeedGetOneErrorWithAFlatHeapAndTheSessionResynchronises()
    {
        await using var server = TestServer.Start();
        await using var client = await server.ConnectAndEhloAsync();
        var heapBefore = Heap();
        var block = new byte[MiB];
        Array.Fill(block, (byte)'A');
        long peak = 0;
        for (var sent = 0; sent < 64; sent++)
        {
            await client.SendAsync(block);
            if (sent % 8 == 7)
            {
                peak = Math.Max(peak, Heap() - heapBefore);
                // Nothing is answered until the line ends.
                Assert.False(client.Socket.Poll(0, SelectMode.SelectRead));
            }
        }

        await client.SendAsync("\r\nNOOP\r\n");
        Assert.Equal("500 5.5.2 Line too long (RFC 5321 4.5.3.1.4)", await client.ReadReplyAsync());
        Assert.Equal("250 2.0.0 OK", await client.ReadReplyAsync());
        Assert.True(peak < 4 * MiB, $"The heap grew by {peak / 1024} KiB for a 64 MiB line.");
    }

    [Fact]
    public async Task ABodyFarOverTheSizeLimitGets552OnlyAtTheEndWithAFlatHeapAndABoundedSpool()
    {
        const long limit = 10 * MiB;
        var size = BigBodyBytes;
        var spool = Directory.CreateTempSubdirectory("smtpd-big-");
        try
        {
            var delivered = 0;
            await using var server = TestServer.Start(o =>
            {
                o.MaxMessageSize = limit;
                o.SpoolDirectory = spool.FullName;
                o.Deliver = (_, _) =>
                {
                    Interlocked.Increment(ref delivered);
                    return ValueTask.FromResult(SmtpVerdict.Accept);
                };
            });
            await using var client = await server.ConnectAndEhloAsync();
            Assert.Equal("250 2.1.0 Sender OK", await client.CommandAsync("MAIL FROM:<a@b.example>"));
            Assert.Equal("250 2.1.5 Recipient OK", await client.CommandAsync("RCPT TO:<r@b.example>"));
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", await client.CommandAsync("DATA"));

            // 64 KiB of 80-octet lines, generated once and sent over and over: the client holds nothing else.
            var line = Encoding.ASCII.GetBytes(new string('q', 78) + "\r\n");
            var block = new byte[line.Length * 819];
            for (var i = 0; i < 819; i++)
            {
                line.CopyTo(block, i * line.Length);
            }

            var heapBefore = Heap();
            long peak = 0;
            long spoolPeak = 0;
            var clock = Stopwatch.StartNew();
            for (long sent = 0; sent < size; sent += block.Length)
            {
                await client.SendAsync(block);
                if ((sent / block.Length) % 1024 == 1023)
                {
                    peak = Math.Max(peak, Heap() - heapBefore);
                    spoolPeak = Math.Max(spoolPeak, spool.EnumerateFiles().Sum(f => f.Length));
                    Assert.False(client.Socket.Poll(0, SelectMode.SelectRead), "A reply came before the end of data.");
                }
            }

            await client.SendAsync(".\r\n");
            Assert.Equal("552 5.3.4 Message size exceeds fixed maximum message size", await client.ReadReplyAsync(TimeSpan.FromSeconds(60)));
            var seconds = clock.Elapsed.TotalSeconds;
            TestContext.Current.SendDiagnosticMessage($"{size / MiB} MiB over a {limit / MiB} MiB limit: {seconds:F1} s ({size / MiB / seconds:F0} MiB/s), heap +{peak / 1024} KiB, spool peak {spoolPeak / 1024} KiB");

            Assert.Equal(0, delivered);
            Assert.True(peak < 8 * MiB, $"The heap grew by {peak / 1024} KiB.");
            Assert.InRange(spoolPeak, 0, limit);
            Assert.Equal("250 2.0.0 OK", await client.CommandAsync("NOOP"));
            Assert.Empty(spool.EnumerateFiles());
        }
        finally
        {
            spool.Delete(recursive: true);
        }
    }

    /// <summary>The managed heap after a full collection.</summary>
    private static long Heap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

/// <summary>Raises this process's open-file limit (RLIMIT_NOFILE) up to its hard limit when a test needs more sockets.</summary>
internal static class FileDescriptors
{
    private const int RlimitNoFile = 7;

    public static void EnsureAtLeast(ulong wanted)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        Assert.Equal(0, GetRLimit(RlimitNoFile, out var limit));
        if (limit.Current >= wanted)
        {
            return;
        }

        Assert.True(limit.Maximum >= wanted, $"This test needs {wanted} open files; the hard limit is {limit.Maximum} (raise it with ulimit -Hn).");
        limit.Current = wanted;
        Assert.Equal(0, SetRLimit(RlimitNoFile, in limit));
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    // DllImport rather than LibraryImport: the generated marshalling needs unsafe code, which the tests do not allow.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "getrlimit")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int GetRLimit(int resource, out RLimit limit);

    [DllImport("libc", EntryPoint = "setrlimit")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SetRLimit(int resource, in RLimit limit);
#pragma warning restore SYSLIB1054
}
