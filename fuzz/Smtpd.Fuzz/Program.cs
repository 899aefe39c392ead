using System.Text;

namespace Smtpd.Fuzz;

/// <summary>
/// Entry point of the fuzzing harnesses. <c>Smtpd.Fuzz TARGET</c> runs TARGET under AFL++ through SharpFuzz
/// (<c>fuzz/run.sh</c> does the instrumenting and the AFL++ command line); <c>Smtpd.Fuzz TARGET FILE|DIR...</c> runs
/// each file through TARGET once, without AFL, to check a corpus or replay a crash. Replay with an uninstrumented
/// build: instrumented code outside <c>Fuzzer.Run</c> writes to a coverage map that is not there.
/// </summary>
internal static class Program
{
    private static readonly Dictionary<string, Action<byte[]>> Targets = new(StringComparer.Ordinal)
    {
        ["command-line"] = CommandLineTarget.Run,
        ["path"] = PathTarget.Run,
        ["content"] = ContentTarget.Run,
        ["session"] = SessionTarget.Run,
        ["search"] = SearchTarget.Run,
    };

    public static int Main(string[] args)
    {
        if (args.Length == 0 || !Targets.TryGetValue(args[0], out var target))
        {
            Console.Error.WriteLine($"usage: Smtpd.Fuzz {string.Join('|', Targets.Keys)} [FILE|DIR...]");
            return 2;
        }

        if (args.Length == 1)
        {
            // Nothing of the instrumented library may run before Fuzzer.Run has mapped AFL's coverage memory: it would
            // write to a map that does not exist yet. A broken accessor shows up as every seed crashing instead.
            SharpFuzz.Fuzzer.Run(stream =>
            {
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                target(copy.ToArray());
            });
            return 0;
        }

        SelfCheck();
        return Replay(target, args[1..]);
    }

    /// <summary>Runs every file once; prints and counts the failures.</summary>
    private static int Replay(Action<byte[]> target, string[] paths)
    {
        var files = paths.SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories) : [p])
            .Where(f => !Path.GetFileName(f).StartsWith("README", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        var failures = 0;
        foreach (var file in files)
        {
            try
            {
                target(File.ReadAllBytes(file));
            }
            catch (Exception ex)
            {
                failures++;
                Console.WriteLine($"FAIL {file}: {ex}");
            }
        }

        Console.WriteLine($"{files.Length} inputs, {failures} failures");
        return failures == 0 ? 0 : 1;
    }

    /// <summary>Fails at once if an accessor no longer matches the library (a renamed internal, a changed signature).</summary>
    private static void SelfCheck()
    {
        var mail = Internals.Parse(null, "MAIL FROM:<a@b.example> SIZE=10"u8, smtpUtf8: false);
        Check.That(Internals.MailSender(mail)?.Address == "a@b.example" && Internals.MailDeclaredSize(mail) == 10, "MAIL accessors");
        var dsnMail = Internals.Parse(null, "MAIL FROM:<a@b.example> ENVID=x+2By"u8, smtpUtf8: false, dsn: true);
        Check.That(Internals.MailDsnEnvelopeId(dsnMail) == "x+y", "DSN accessors");
        var decoder = Internals.NewDataDecoder(BareLineEndingPolicy.Reject, 1000);
        var buffer = Internals.NewMessageBuffer(4096, 100, null);
        Check.That(Internals.Decode(decoder, "x\r\n.\r\n"u8, buffer) == 6 && Internals.IsDone(decoder), "DataDecoder accessors");
        Internals.Complete(buffer);
        using var read = Internals.OpenRead(buffer);
        Check.That(new StreamReader(read, Encoding.Latin1).ReadToEnd() == "x\r\n", "MessageBuffer accessors");
        ((IDisposable)buffer).Dispose();
        var search = Internals.CompileSearch(null, Internals.ParseSearch(null, "from:a -is:read", null), TimeZoneInfo.Utc);
        Check.That(Internals.SearchWhere(search).Contains("NOT (", StringComparison.Ordinal) && Internals.SearchParameters(search).Count == 1, "search accessors");
        try
        {
            Internals.ParseSearch(null, "is:nope", null);
            Check.That(false, "is:nope is refused");
        }
        catch (Exception ex) when (ex.GetType().Name == "SearchSyntaxException")
        {
            Check.That(Internals.SearchErrorPosition(ex) == 3, "search error accessors");
        }
        var session = Internals.NewInMemorySession(new SmtpServerOptions { ServerName = "check.local" }, lmtp: false, logger: null, time: null, remoteEndPoint: null);
        Internals.Start(session).AsTask().GetAwaiter().GetResult();
        Internals.Feed(session, "QUIT\r\n"u8.ToArray()).AsTask().GetAwaiter().GetResult();
        var replies = Encoding.ASCII.GetString(Internals.TakeReplyBytes(session));
        Check.That(replies.StartsWith("220 check.local", StringComparison.Ordinal) && replies.EndsWith("221 Bye\r\n", StringComparison.Ordinal) && Internals.IsClosed(session), "InMemorySmtpSession accessors: " + replies);
        ((IDisposable)session).Dispose();
    }
}

/// <summary>An invariant the harness checks was broken: AFL++ records the input as a crash.</summary>
internal sealed class InvariantViolatedException(string message) : Exception(message);

internal static class Check
{
    public static void That(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvariantViolatedException(what);
        }
    }
}
