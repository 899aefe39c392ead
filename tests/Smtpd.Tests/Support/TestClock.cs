using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;

namespace Smtpd.Tests.Support;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that also counts how often the server read the time or set a one-shot timer on
/// it. Until a test advances it, the server does either only to set a deadline (the heartbeat, a periodic timer,
/// does not fire on its own), so a new read after a connect means the session's deadline is set and advancing the
/// clock cannot race it.
/// </summary>
public sealed class TestClock : FakeTimeProvider
{
    private int _reads;

    /// <summary>How often <see cref="GetTimestamp"/> was called or a one-shot timer created (a handshake's timeout).</summary>
    public int Reads => Volatile.Read(ref _reads);

    /// <inheritdoc/>
    public override long GetTimestamp()
    {
        Interlocked.Increment(ref _reads);
        return base.GetTimestamp();
    }

    /// <inheritdoc/>
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (period == Timeout.InfiniteTimeSpan)
        {
            Interlocked.Increment(ref _reads);
        }

        return base.CreateTimer(callback, state, dueTime, period);
    }

    /// <summary>Waits (on a real-time failure bound) until the time has been read more than <paramref name="reads"/> times.</summary>
    public Task WaitForReadAfterAsync(int reads) =>
        Eventually.WaitUntilAsync(() => Reads > reads, "the server read the clock to set a deadline");

    /// <summary>
    /// Advances the clock <paramref name="step"/> at a time until <paramref name="done"/> completes: for waits whose
    /// deadline is set at a moment the test cannot see (while the client is not reading, or a callback is waiting).
    /// Nothing sleeps for a timeout: each step is taken at once; only a broken server meets the real-time bound.
    /// </summary>
    public async Task AdvanceUntilAsync(TimeSpan step, Task done, string what)
    {
        var bound = Stopwatch.StartNew();
        while (!done.IsCompleted)
        {
            Assert.True(bound.Elapsed < TimeSpan.FromSeconds(30), $"Timed out waiting until {what}.");
            Advance(step);
            await Task.WhenAny(done, Task.Delay(10, TestContext.Current.CancellationToken));
        }

        await done;
    }

    /// <inheritdoc cref="AdvanceUntilAsync(TimeSpan, Task, string)"/>
    public Task AdvanceUntilAsync(TimeSpan step, Func<bool> done, string what) =>
        AdvanceUntilAsync(step, Eventually.WaitUntilAsync(done, what), what);
}
