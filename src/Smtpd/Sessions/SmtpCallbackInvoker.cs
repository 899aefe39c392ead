using Microsoft.Extensions.Logging;
using Smtpd.Logging;

namespace Smtpd.Sessions;

/// <summary>
/// Runs a session's application callbacks: turns <see cref="SmtpRejectedException"/> into a rejection and any other
/// failure into <see langword="null"/> (451), hands every callback the session's abort token, and, while a callback
/// waits, lets the transport watch for the client's departure (<see cref="DisconnectProbe"/>).
/// </summary>
internal sealed class SmtpCallbackInvoker(ILogger logger) : IDisposable
{
    // Whether a callback is waiting, and whether the heartbeat has started watching the socket for it.
    private const int NoCallbackWaiting = 0;
    private const int CallbackWaiting = 1;
    private const int CallbackWatchStarting = 2;
    private const int CallbackWatched = 3;
    private int _callbackWatch;
    private CancellationTokenSource? _disconnectWatch;

    // Created on first use: an idle session that never runs a callback never pays for it.
    private CancellationTokenSource? _aborted;
    private int _abortRequested;

    /// <summary>
    /// Set by the transport: waits, without consuming anything, until the client sends something or leaves, and
    /// returns <see langword="true"/> when it left. <see langword="null"/> in memory, where no client can leave.
    /// </summary>
    public IClientDepartureProbe? DisconnectProbe { get; set; }

    /// <summary>Whether the callbacks have been aborted (shutdown, or the client went away).</summary>
    public bool IsAborted => Volatile.Read(ref _abortRequested) != 0;

    /// <summary>The token every callback gets: cancelled on shutdown or when the client goes away.</summary>
    public CancellationToken Token
    {
        get
        {
            if (Volatile.Read(ref _aborted) is { } existing)
            {
                return existing.Token;
            }

            var created = new CancellationTokenSource();
            var aborted = Interlocked.CompareExchange(ref _aborted, created, null) ?? created;
            if (aborted != created)
            {
                created.Dispose();
            }
            else if (Volatile.Read(ref _abortRequested) != 0)
            {
                aborted.Cancel();
            }

            return aborted.Token;
        }
    }

    /// <summary>Calls a callback, turning <see cref="SmtpRejectedException"/> into a rejection and any other failure into <see langword="null"/> (451).</summary>
    /// <exception cref="SmtpDisconnectRequestedException">The callback answered <see cref="SmtpVerdict.Disconnect"/>.</exception>
    public async ValueTask<SmtpVerdict?> InvokeAsync<TState>(Func<TState, CancellationToken, ValueTask<SmtpVerdict>> callback, TState state, string name)
    {
        try
        {
            var pending = callback(state, Token);
            SmtpVerdict verdict;
            if (pending.IsCompleted)
            {
                verdict = pending.Result;
            }
            else
            {
                // A callback that waits is told if the client goes away meanwhile, as the delegates promise: the
                // heartbeat starts watching the socket once it finds the callback still running (WatchIfWaiting).
                // Watching every wait from its start cost a socket operation and a caught cancellation per message,
                // a tenth of the server's CPU under a store that commits in milliseconds.
                Volatile.Write(ref _callbackWatch, CallbackWaiting);
                try
                {
                    verdict = await pending;
                }
                finally
                {
                    if (Interlocked.Exchange(ref _callbackWatch, NoCallbackWaiting) == CallbackWatched)
                    {
                        await _disconnectWatch!.CancelAsync();
                    }
                }
            }

            if (verdict is { IsDisconnect: true })
            {
                throw new SmtpDisconnectRequestedException(name);
            }

            if (verdict is { IsAccepted: false })
            {
                Log.CallbackRejected(logger, name, verdict.Reason);
            }

            return verdict;
        }
        catch (SmtpRejectedException ex)
        {
            Log.CallbackRejected(logger, name, ex.Message);
            return ex.ToVerdict();
        }
        catch (Exception ex) when (ex is not SmtpDisconnectRequestedException && !(ex is OperationCanceledException && IsAborted))
        {
            Log.CallbackFailed(logger, name, ex);
            return null;
        }
    }

    /// <summary>Cancels the callbacks' token: the server is shutting down or the client has gone.</summary>
    public void Abort()
    {
        Volatile.Write(ref _abortRequested, 1);
        try
        {
            Volatile.Read(ref _aborted)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Cancels the callbacks' token and waits for its registrations to run; for the session's end.</summary>
    public async ValueTask AbortAsync()
    {
        Volatile.Write(ref _abortRequested, 1);
        if (Volatile.Read(ref _aborted) is { } aborted)
        {
            await aborted.CancelAsync();
        }
    }

    /// <summary>
    /// Called by the server's heartbeat. A callback that has been waiting since before this tick is watched from now
    /// on: the probe tells it if the client goes away. The callback's end cancels the probe (InvokeAsync), so no watch
    /// outlives its callback.
    /// </summary>
    public void WatchIfWaiting()
    {
        // Only the tick that moves the state on creates a watch, even if two ticks overlap.
        if (DisconnectProbe is not { } probe
            || Interlocked.CompareExchange(ref _callbackWatch, CallbackWatchStarting, CallbackWaiting) != CallbackWaiting)
        {
            return;
        }

        // The previous watch, if any, was cancelled when its callback ended.
        _disconnectWatch?.Dispose();
        var watch = new CancellationTokenSource();
        _disconnectWatch = watch;
        if (Interlocked.CompareExchange(ref _callbackWatch, CallbackWatched, CallbackWatchStarting) != CallbackWatchStarting)
        {
            // The callback ended meanwhile: nothing is left to watch.
            return;
        }

        _ = WatchAsync(probe, watch.Token);
    }

    private async Task WatchAsync(IClientDepartureProbe probe, CancellationToken cancellationToken)
    {
        try
        {
            if (await probe.ClientLeftAsync(cancellationToken))
            {
                Abort();
            }
        }
        catch (OperationCanceledException)
        {
            // The callback finished first.
        }
    }

    public void Dispose() => _aborted?.Dispose();
}

/// <summary>The transport's side of <see cref="SmtpCallbackInvoker.DisconnectProbe"/> (an interface, not a delegate, so a connection pays no object for it).</summary>
internal interface IClientDepartureProbe
{
    /// <summary>Waits, without consuming anything, until the client sends something or leaves.</summary>
    /// <returns><see langword="true"/> when the client has gone.</returns>
    ValueTask<bool> ClientLeftAsync(CancellationToken cancellationToken);
}

/// <summary>A callback answered <see cref="SmtpVerdict.Disconnect"/>: the session ends without a reply.</summary>
internal sealed class SmtpDisconnectRequestedException(string callback) : Exception($"the {callback} callback asked to drop the connection");
