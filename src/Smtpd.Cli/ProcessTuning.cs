namespace Smtpd.Cli;

/// <summary>
/// Runtime choices for the catcher's process, made in <c>Main</c> before the first socket exists (the runtime reads
/// them once, when its socket engine starts). Each one was measured under workload E in docs/performance.md; an
/// environment variable the user set already is left as it is.
/// </summary>
internal static class ProcessTuning
{
    /// <summary>Applies the choices to this process's environment.</summary>
    public static void Apply()
    {
        // Socket continuations run on the socket engine's thread instead of hopping to the thread pool. Safe here:
        // the catcher's callbacks never block that thread (its policies are regular expressions with a timeout;
        // the store, the Maildir writer and the event output run after an await that leaves it).
        SetUnlessGiven("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");

        // With inline completions the runtime starts one engine thread per core. A catcher shares its machine with
        // the application under test, and one engine serves well over 10,000 messages a second; more engines only
        // preempt that application (it was preempted about 10 times per message with two of them).
        SetUnlessGiven("DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT", "1");
    }

    private static void SetUnlessGiven(string name, string value)
    {
        if (Environment.GetEnvironmentVariable(name) is null)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
    }
}
