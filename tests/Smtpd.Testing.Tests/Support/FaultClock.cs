using Microsoft.Extensions.Time.Testing;

namespace Smtpd.Testing.Tests.Support;

/// <summary>
/// A <see cref="FakeTimeProvider"/> for <see cref="SmtpTestServerOptions.FaultTimeProvider"/> that tells a test when a
/// one-shot timer of a given length was set on it: a fault delay has begun, so advancing the clock past it cannot race
/// the server, and nothing sleeps through the delay.
/// </summary>
public sealed class FaultClock : FakeTimeProvider
{
    private readonly Lock _gate = new();
    private readonly List<TimeSpan> _set = [];
    private readonly List<(TimeSpan DueTime, TaskCompletionSource Signal)> _waiters = [];

    /// <inheritdoc/>
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        if (period == Timeout.InfiniteTimeSpan)
        {
            lock (_gate)
            {
                _set.Add(dueTime);
                foreach (var waiter in _waiters.Where(w => w.DueTime == dueTime).ToArray())
                {
                    _waiters.Remove(waiter);
                    waiter.Signal.TrySetResult();
                }
            }
        }

        return timer;
    }

    /// <summary>
    /// Completes once a one-shot timer of <paramref name="dueTime"/> has been set (at once if one already was); fails
    /// after 10 s of real time, which only a delay that does not use this clock reaches.
    /// </summary>
    public Task WaitForTimerAsync(TimeSpan dueTime)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_set.Contains(dueTime))
            {
                return Task.CompletedTask;
            }

            _waiters.Add((dueTime, signal));
        }

        return signal.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
    }
}
