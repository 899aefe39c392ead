using System.Text;

namespace Smtpd.Cli.Commands;

/// <summary>Where a command writes: stdout as bytes (for <c>show --raw</c>) and as text, and stderr.</summary>
internal sealed class CommandContext(Stream stdout, TextWriter stderr, Func<string, string?> environment, CancellationToken stop)
{
    private TextWriter? _out;

    /// <summary>Stdout as a stream, for exact bytes.</summary>
    public Stream StdoutStream => stdout;

    /// <summary>Stdout as UTF-8 text with LF line ends.</summary>
    public TextWriter Out => _out ??= new StreamWriter(stdout, new UTF8Encoding(false), leaveOpen: true) { AutoFlush = true, NewLine = "\n" };

    /// <summary>Stderr.</summary>
    public TextWriter Error => stderr;

    /// <summary>Looks up an environment variable.</summary>
    public Func<string, string?> Environment => environment;

    /// <summary>Completes when the catcher should stop (besides SIGINT and SIGTERM).</summary>
    public CancellationToken Stop => stop;

    /// <summary>Prints <c>smtpd: message</c> on stderr.</summary>
    /// <param name="message">The message.</param>
    public void Fail(string message) => stderr.WriteLine("smtpd: " + message);
}
