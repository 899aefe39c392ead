using Smtpd.Sessions;

namespace Smtpd.Tests.Protocol;

/// <summary>
/// The protocol's per-command path allocates nothing once a session is warm (docs/performance.md): parsed commands
/// come from the session's cache, replies are cached octets, and a pipelined batch completes synchronously.
/// Allocation is counted, not timed, so this is deterministic. Measured on the Release build.
/// </summary>
public sealed class ProtocolAllocationTests
{
    private static readonly byte[] Transaction = System.Text.Encoding.ASCII.GetBytes(
        "MAIL FROM:<alice@example.com> SIZE=100\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<carol@example.com>\r\nDATA\r\n" +
        "Subject: x\r\n\r\n..dot\r\nbody\r\n.\r\nNOOP\r\nRSET\r\n");

    [Fact]
    public async Task AWarmSessionAllocatesNothingPerTransaction()
    {
        // A Debug build compiles every async method's state machine as a class, allocated even when it completes
        // synchronously: the property holds for the optimized library that ships (dotnet test -c Release).
        var debuggable = typeof(SmtpServer).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
            .OfType<System.Diagnostics.DebuggableAttribute>().FirstOrDefault();
        Assert.SkipWhen(debuggable?.IsJITOptimizerDisabled == true, "The library is a Debug build; run with -c Release to count its allocations.");

        // No delivery callback: the server is a sink, as in the benchmarks' smtpd row.
        using var session = new InMemorySmtpSession(new SmtpServerOptions { ServerName = "test.local", MaxJunkCommands = int.MaxValue }, lmtp: false, logger: null, time: null, remoteEndPoint: null);
        await session.StartAsync();
        await session.WriteAsync("EHLO client.test\r\n"u8.ToArray());
        for (var i = 0; i < 200; i++)
        {
            await session.WriteAsync(Transaction);
            session.DiscardReplies();
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            await session.WriteAsync(Transaction);
            session.DiscardReplies();
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.False(session.IsClosed);
        Assert.True(allocated < 1024, $"1000 warm transactions allocated {allocated} bytes.");
    }
}
