namespace Smtpd.Cli.Tests;

/// <summary>
/// The catcher's process-wide runtime choices (ProcessTuning): one socket engine thread unless the user chose
/// otherwise. The engine threads are counted by name in /proc, so these tests need Linux.
/// </summary>
public sealed class ProcessTuningTests
{
    [Fact]
    public async Task TheCatcherServesMailFromOneSocketEngineThread()
    {
        SkipUnlessLinux();
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir);
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple());
        await catcher.NextMessageAsync();

        Assert.Equal(1, SocketEngineThreads(catcher.Process.Id));
    }

    [Fact]
    public async Task ASocketThreadCountTheUserSetIsKept()
    {
        SkipUnlessLinux();
        using var dir = new TestDirectory();
        await using var catcher = await CatcherProcess.StartAsync(dir, [], new Dictionary<string, string> { ["DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT"] = "3" });
        await Mail.SendAsync(catcher.EndPoint, Mail.Simple());
        await catcher.NextMessageAsync();

        Assert.Equal(3, SocketEngineThreads(catcher.Process.Id));
    }

    [Fact]
    public void EachChoiceIsSetOnlyWhenTheEnvironmentHasNoValueForIt()
    {
        var environment = new Dictionary<string, string> { ["DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT"] = "4" };

        ProcessTuning.Apply(name => environment.GetValueOrDefault(name), (name, value) => environment[name] = value);

        Assert.Equal("1", environment["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"]);
        Assert.Equal("4", environment["DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT"]);
        Assert.Equal(2, environment.Count);
    }

    private static void SkipUnlessLinux()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("Thread names are read from /proc, which only Linux has.");
        }
    }

    private static int SocketEngineThreads(int pid) =>
        Directory.GetDirectories($"/proc/{pid}/task").Count(task => File.ReadAllText(Path.Combine(task, "comm")).Trim() == ".NET Sockets");
}
