using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Smtpd.Cli.Output;

/// <summary>
/// A minimal logger for stderr: <c>HH:mm:ss.fff [session] text</c>. The core logs the SMTP transcript at Trace
/// (with AUTH secrets already masked as <c>****</c>), so <c>--verbose</c> is this provider at Trace level.
/// Stdout stays free for the message lines or JSON events.
/// </summary>
internal sealed class StderrLoggerProvider(TextWriter stderr, LogLevel minimum) : ILoggerProvider, ILoggerFactory
{
    private static readonly AsyncLocal<string?> SessionId = new();
    private readonly Lock _gate = new();

    private LogLevel Minimum => minimum;

    /// <inheritdoc/>
    public ILogger CreateLogger(string categoryName) => new Logger(this);

    /// <inheritdoc/>
    public void AddProvider(ILoggerProvider provider)
    {
    }

    /// <inheritdoc/>
    public void Dispose()
    {
    }

    private void Write(LogLevel level, string text, Exception? exception)
    {
        var session = SessionId.Value;
        var prefix = level >= LogLevel.Warning ? level == LogLevel.Warning ? "warning: " : "error: " : string.Empty;
        var line = string.Create(CultureInfo.InvariantCulture, $"{DateTime.Now:HH:mm:ss.fff} {(session is null ? "" : $"[{session}] ")}{prefix}{text}");
        if (exception is not null)
        {
            line += $" ({exception.GetType().Name}: {exception.Message})";
        }

        lock (_gate)
        {
            stderr.WriteLine(line);
            stderr.Flush();
        }
    }

    private sealed class Logger(StderrLoggerProvider provider) : ILogger
    {
        public IDisposable BeginScope<TState>(TState state)
            where TState : notnull
        {
            var previous = SessionId.Value;
            if (state is IEnumerable<KeyValuePair<string, object?>> pairs
                && pairs.FirstOrDefault(p => p.Key == "SessionId").Value is { } id)
            {
                SessionId.Value = id.ToString();
            }

            return new Scope(previous);
        }

        public bool IsEnabled(LogLevel logLevel) => logLevel >= provider.Minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                provider.Write(logLevel, formatter(state, exception), exception);
            }
        }
    }

    private sealed class Scope(string? previous) : IDisposable
    {
        public void Dispose() => SessionId.Value = previous;
    }
}
