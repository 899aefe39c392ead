namespace Smtpd.Cli;

/// <summary>
/// Runtime choices for the catcher's process, made in <c>Main</c> before the first socket exists (the runtime reads
/// them once, when its socket engine starts). Each one was measured under workload E in docs/performance.md; an
/// environment variable the user set already is left as it is.
/// </summary>
internal static class ProcessTuning
{
    /// <summary>The environment variables set, with their values.</summary>
    public static readonly IReadOnlyList<(string Name, string Value)> Choices =
    [
        // Socket continuations run on the socket engine's thread instead of hopping to the thread pool. Safe here:
        // the catcher's callbacks never block that thread (its policies are regular expressions with a timeout;
        // the store, the Maildir writer and the event output run after an await that leaves it).
        ("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1"),

        // With inline completions the runtime starts one engine thread per core. A catcher shares its machine with
        // the application under test, and one engine serves well over 10,000 messages a second; more engines only
        // preempt that application (it was preempted about 10 times per message with two of them).
        ("DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT", "1"),
    ];

    /// <summary>Applies the choices to this process's environment.</summary>
    public static void Apply() => Apply(Environment.GetEnvironmentVariable, Environment.SetEnvironmentVariable);

    /// <summary>Sets each choice that <paramref name="get"/> does not already have a value for.</summary>
    /// <param name="get">Reads an environment variable.</param>
    /// <param name="set">Sets one.</param>
    public static void Apply(Func<string, string?> get, Action<string, string> set)
    {
        foreach (var (name, value) in Choices)
        {
            if (get(name) is null)
            {
                set(name, value);
            }
        }
    }
}
